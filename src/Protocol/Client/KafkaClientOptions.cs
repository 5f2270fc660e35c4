namespace Kraft.Protocol.Client;

/// <summary>Settings for <see cref="KafkaClient"/> and <see cref="KafkaConnection"/>.</summary>
public sealed record KafkaClientOptions
{
    /// <summary>"host:port" addresses tried in order until one answers (Kafka's bootstrap.servers).</summary>
    public IReadOnlyList<string> BootstrapServers { get; init; } = ["localhost:9092"];

    public string ClientId { get; init; } = "kraft-client";
    public string ClientSoftwareName { get; init; } = "kraft";
    public string ClientSoftwareVersion { get; init; } = "0.1.0";

    /// <summary>Kafka's request.timeout.ms default.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest response frame accepted; Fetch responses are bounded by the request's MaxBytes anyway.</summary>
    public int MaxResponseBytes { get; init; } = 256 * 1024 * 1024;

    /// <summary>Clock for request timeouts; tests substitute a manual one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Send ApiVersions first and use the highest common version of each API (recommended).</summary>
    public bool NegotiateApiVersions { get; init; } = true;

    /// <summary>
    /// The local address outbound connections bind to before connecting (null: the kernel picks one). A broker
    /// whose listeners are on one specific address sets it, so that its outbound traffic carries that address and
    /// per-node firewall rules (the Jepsen harness's partitions) can tell nodes apart on one host.
    /// </summary>
    public System.Net.IPAddress? LocalAddress { get; init; }
}
