using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Kraft.Broker.Observability;

/// <summary>
/// The node's HTTP listener (http.listener, a Kraft extension): GET /metrics serves the exporter's
/// Prometheus text, GET /health serves a JSON <see cref="HealthReport"/> with 200 when the node is
/// serving and 503 when it is not. Anything else is 404 (unknown path) or 405 (not GET/HEAD).
/// </summary>
/// <remarks>
/// Kestrel is used (through an empty WebApplication builder, so no configuration files, environment
/// variables or logging providers leak in) because it binds port 0 and reports the chosen port, and it
/// is the same server stack the rest of .NET trusts on the internet; HttpListener cannot bind port 0.
/// Lifecycle: construct, <see cref="StartAsync"/> once, then <see cref="StopAsync"/> or
/// <see cref="DisposeAsync"/>. Requests run on thread-pool threads; the health delegate and the exporter
/// must therefore be thread-safe (the exporter is).
/// </remarks>
public sealed class AdminHttpServer : IAsyncDisposable
{
    private readonly IPEndPoint _requested;
    private readonly PrometheusExporter _exporter;
    private readonly Func<HealthReport> _health;
    private WebApplication? _app;
    private int _state; // 0 new, 1 started, 2 stopped

    /// <summary>Prepares a server for <paramref name="endPoint"/> (port 0 picks a free port); nothing binds until <see cref="StartAsync"/>.</summary>
    public AdminHttpServer(IPEndPoint endPoint, PrometheusExporter exporter, Func<HealthReport> health)
    {
        _requested = endPoint ?? throw new ArgumentNullException(nameof(endPoint));
        _exporter = exporter ?? throw new ArgumentNullException(nameof(exporter));
        _health = health ?? throw new ArgumentNullException(nameof(health));
    }

    /// <summary>
    /// Optional work awaited before each /metrics render, for gauges whose values must be gathered asynchronously
    /// (the consumer-lag gauge takes each offsets shard's gate). It gets <see cref="BeforeScrapeTimeout"/>; when it
    /// fails or times out the scrape still answers, with whatever those gauges cached last.
    /// </summary>
    public Func<CancellationToken, Task>? BeforeScrape { get; init; }

    /// <summary>How long <see cref="BeforeScrape"/> may take.</summary>
    public static readonly TimeSpan BeforeScrapeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The address actually bound (with the real port); null before <see cref="StartAsync"/>.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>http://host:port/ of the bound address, for clients and logs.</summary>
    /// <remarks>An all-interfaces bind is reported as the loopback address, which a local client can reach.</remarks>
    public Uri BaseAddress
    {
        get
        {
            var ep = LocalEndPoint ?? throw new InvalidOperationException("the admin HTTP server has not been started");
            var address = ep.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
                : ep.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
                : ep.Address;
            var host = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
            return new Uri($"http://{host}:{ep.Port}/");
        }
    }

    /// <summary>
    /// Turns "host:port" (IPv4, [IPv6], "localhost", a host name, or an empty host / "0.0.0.0" for all
    /// interfaces) into an endpoint. Host names are resolved once, here.
    /// </summary>
    public static IPEndPoint ResolveEndPoint(string host, int port)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var h = (host ?? "").Trim().TrimStart('[').TrimEnd(']');
        if (h.Length == 0 || h == "*")
        {
            return new IPEndPoint(IPAddress.Any, port);
        }

        if (IPAddress.TryParse(h, out var address))
        {
            return new IPEndPoint(address, port);
        }

        if (string.Equals(h, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        var resolved = Dns.GetHostAddresses(h);
        var chosen = resolved.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? resolved.FirstOrDefault()
            ?? throw new ArgumentException($"host '{host}' does not resolve to any address");
        return new IPEndPoint(chosen, port);
    }

    /// <summary>Binds and starts serving. Throws if the address is in use.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the admin HTTP server can be started only once");
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Limits.MaxRequestBodySize = 0;
            options.Limits.MaxConcurrentConnections = 64;
            options.Listen(_requested);
        });
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken);
        _app = app;

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address");
        var uri = new Uri(address);
        LocalEndPoint = new IPEndPoint(_requested.Address, uri.Port);
    }

    /// <summary>Stops accepting and closes connections; safe to call more than once.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken);
            await app.DisposeAsync();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
    }

    private async Task RunBeforeScrapeAsync(CancellationToken aborted)
    {
        if (BeforeScrape is not { } before)
        {
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(BeforeScrapeTimeout);
        try
        {
            await before(timeout.Token).WaitAsync(timeout.Token);
        }
#pragma warning disable CA1031 // A gauge that cannot refresh must not take the other metrics down with it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }

        string body;
        switch (request.Path.Value)
        {
            case "/metrics":
                await RunBeforeScrapeAsync(context.RequestAborted);
                body = _exporter.Render();
                response.StatusCode = StatusCodes.Status200OK;
                response.ContentType = PrometheusExporter.ContentType;
                break;
            case "/health":
                HealthReport report;
                try
                {
                    report = _health();
                }
#pragma warning disable CA1031 // A failing health probe is itself the answer: not serving.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    report = new HealthReport(-1, "", Serving: false, Status: "error")
                    {
                        Details = new Dictionary<string, string> { ["error"] = e.GetType().Name + ": " + e.Message },
                    };
                }

                body = report.ToJson();
                response.StatusCode = report.Serving ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                response.ContentType = "application/json; charset=utf-8";
                response.Headers.CacheControl = "no-store";
                break;
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                response.ContentType = "text/plain; charset=utf-8";
                body = "not found; try /metrics or /health\n";
                break;
        }

        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }

        await response.WriteAsync(body, context.RequestAborted);
    }
}
