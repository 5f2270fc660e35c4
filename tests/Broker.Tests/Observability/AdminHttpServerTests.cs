using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Kraft.Broker.Observability;

namespace Kraft.Broker.Tests.Observability;

/// <summary>The admin HTTP listener on a free loopback port: /metrics, /health (200 and 503), 404 and 405.</summary>
public sealed class AdminHttpServerTests
{
    [Fact]
    public async Task Serves_metrics_and_health_on_a_free_port()
    {
        using var meter = new Meter("Kraft.Test." + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterNames = [meter.Name] });
        meter.CreateCounter<int>("kraft.test.requests").Add(5);
        var report = new HealthReport(1, "broker,controller", Serving: true, Status: "serving")
        {
            QuorumRole = "leader",
            QuorumLeaderId = 1,
            QuorumEpoch = 7,
            Fenced = false,
        };
        await using var server = new AdminHttpServer(new IPEndPoint(IPAddress.Loopback, 0), exporter, () => report);
        await server.StartAsync(CancellationToken.None);
        using var client = new HttpClient { BaseAddress = server.BaseAddress };

        Assert.NotEqual(0, server.LocalEndPoint!.Port);

        using var metrics = await client.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", metrics.Content.Headers.ContentType!.ToString());
        var families = PrometheusTextParser.Parse(await metrics.Content.ReadAsStringAsync());
        Assert.Equal(5, families["kraft_test_requests_total"].Samples.Single().Value);

        using var healthy = await client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        using var json = JsonDocument.Parse(await healthy.Content.ReadAsStringAsync());
        Assert.Equal("leader", json.RootElement.GetProperty("quorum_role").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("quorum_leader_id").GetInt32());
        Assert.False(json.RootElement.GetProperty("fenced").GetBoolean());

        report = report with { Serving = false, Status = "fenced", Fenced = true };
        using var unhealthy = await client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unhealthy.StatusCode);
        using var json2 = JsonDocument.Parse(await unhealthy.Content.ReadAsStringAsync());
        Assert.Equal("fenced", json2.RootElement.GetProperty("status").GetString());

        using var missing = await client.GetAsync(new Uri("/nope", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var post = await client.PostAsync(new Uri("/metrics", UriKind.Relative), new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    [Fact]
    public async Task BeforeScrape_runs_before_each_render_and_a_failing_one_still_serves_the_last_values()
    {
        using var meter = new Meter("Kraft.Test." + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterNames = [meter.Name] });
        long gathered = 0;
        bool fail = false;
        meter.CreateObservableGauge("kraft.test.gathered", () => Volatile.Read(ref gathered));
        await using var server = new AdminHttpServer(new IPEndPoint(IPAddress.Loopback, 0), exporter, () => new HealthReport(1, "broker", true, "serving"))
        {
            BeforeScrape = async ct =>
            {
                await Task.Yield();
                if (fail) throw new InvalidOperationException("shard busy");
                Interlocked.Increment(ref gathered);
            },
        };
        await server.StartAsync(CancellationToken.None);
        using var client = new HttpClient { BaseAddress = server.BaseAddress };

        async Task<double> ScrapeAsync() =>
            PrometheusTextParser.Parse(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)))["kraft_test_gathered"].Samples.Single().Value;

        Assert.Equal(1, await ScrapeAsync());
        Assert.Equal(2, await ScrapeAsync());
        fail = true;
        Assert.Equal(2, await ScrapeAsync());
    }

    [Fact]
    public async Task A_throwing_health_delegate_gives_503_and_stop_releases_the_port()
    {
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterNames = [] });
        var server = new AdminHttpServer(new IPEndPoint(IPAddress.Loopback, 0), exporter, () => throw new InvalidOperationException("not ready"));
        await server.StartAsync(CancellationToken.None);
        var endPoint = server.LocalEndPoint!;
        using (var client = new HttpClient { BaseAddress = server.BaseAddress })
        {
            using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("not ready", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await server.StopAsync(CancellationToken.None);
        await server.DisposeAsync();

        // The same port can be bound again once the server has stopped.
        await using var again = new AdminHttpServer(endPoint, exporter, () => new HealthReport(1, "broker", true, "serving"));
        await again.StartAsync(CancellationToken.None);
        Assert.Equal(endPoint.Port, again.LocalEndPoint!.Port);
    }

    [Fact]
    public async Task An_all_interfaces_bind_is_reachable_through_its_base_address()
    {
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterNames = [] });
        await using var server = new AdminHttpServer(new IPEndPoint(IPAddress.Any, 0), exporter, () => new HealthReport(1, "broker", true, "serving"));
        await server.StartAsync(CancellationToken.None);
        using var client = new HttpClient { BaseAddress = server.BaseAddress };

        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("127.0.0.1", 80, "127.0.0.1:80")]
    [InlineData("", 8080, "0.0.0.0:8080")]
    [InlineData("localhost", 0, "127.0.0.1:0")]
    [InlineData("[::1]", 9, "[::1]:9")]
    public void Resolves_listener_hosts(string host, int port, string expected)
    {
        Assert.Equal(expected, AdminHttpServer.ResolveEndPoint(host, port).ToString());
    }
}
