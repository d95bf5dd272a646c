using System.Net;
using System.Text.Json;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Admin;

/// <summary>
/// ztunnel's admin (<c>/config_dump</c>, <c>/quitquitquit</c>), stats (<c>/metrics</c>) and readiness (<c>/healthz/ready</c>)
/// endpoints: one Kestrel app with three listeners, each path answered only on its own listener's port.
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    private const string TextContentType = "text/plain; charset=utf-8";
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;
    private readonly AdminServerOptions _options;
    private readonly PrometheusMetrics? _metrics;
    private readonly PrometheusMetrics? _ownedMetrics;
    private int _disposed;

    private AdminServer(WebApplication app, AdminServerOptions options)
    {
        _app = app;
        _options = options;
        _ownedMetrics = options.Exporter is null && options.Metrics is { } meter ? new PrometheusMetrics(meter) : null;
        _metrics = options.Exporter ?? _ownedMetrics;
    }

    /// <summary>The bound admin endpoint (the real port when <see cref="AdminServerOptions.Admin"/> asked for port 0).</summary>
    public IPEndPoint AdminEndPoint { get; private set; } = new(IPAddress.None, 0);

    /// <summary>The bound stats endpoint.</summary>
    public IPEndPoint StatsEndPoint { get; private set; } = new(IPAddress.None, 0);

    /// <summary>The bound readiness endpoint.</summary>
    public IPEndPoint ReadinessEndPoint { get; private set; } = new(IPAddress.None, 0);

    /// <summary>Binds the three listeners and starts serving.</summary>
    /// <param name="options">Endpoints and the callbacks that supply the answers.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop.</returns>
    public static async Task<AdminServer> StartAsync(AdminServerOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Admin);
        ArgumentNullException.ThrowIfNull(options.Stats);
        ArgumentNullException.ThrowIfNull(options.Readiness);

        // Empty, as the inbound server's (ZtunnelHost): no configuration files, no recursive watch of the working directory.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        // The ztunnel's own host owns SIGTERM/Ctrl+C; the default console lifetime would take them over.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        ListenOptions? admin = null, stats = null, readiness = null;
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Listen(options.Admin, l => admin = l);
            o.Listen(options.Stats, l => stats = l);
            o.Listen(options.Readiness, l => readiness = l);
        });

        WebApplication app = builder.Build();
        var server = new AdminServer(app, options);
        server._metrics?.MapScrapingEndpoint(app, server.IsScrape);
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            server._ownedMetrics?.Dispose();
            throw;
        }

        // Kestrel writes the bound endpoint (the real port for port 0) back into each ListenOptions;
        // until these are set, requests match no port and get 404.
        server.StatsEndPoint = stats!.IPEndPoint!;
        server.ReadinessEndPoint = readiness!.IPEndPoint!;
        server.AdminEndPoint = admin!.IPEndPoint!;
        return server;
    }

    /// <summary>Stops the listeners, giving requests in flight a short grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        using (var timeout = new CancellationTokenSource(StopTimeout))
        {
            try
            {
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Past the grace period Kestrel aborts what is left; disposing finishes the job.
            }
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _ownedMetrics?.Dispose();
    }

    /// <summary>A GET of <c>/metrics</c> or <c>/stats/prometheus</c> on the stats port: the exporter answers it.</summary>
    private bool IsScrape(HttpContext context) =>
        context.Connection.LocalPort == StatsEndPoint.Port
        && HttpMethods.IsGet(context.Request.Method)
        && context.Request.Path.Value is "/metrics" or "/stats/prometheus";

    private Task HandleAsync(HttpContext context)
    {
        int port = context.Connection.LocalPort;
        string path = context.Request.Path.Value ?? "/";
        if (port == AdminEndPoint.Port)
        {
            return path switch
            {
                "/" => Get(context, ListEndpointsAsync),
                "/config_dump" => Get(context, ConfigDumpAsync),
                "/quitquitquit" => Only(context, HttpMethods.Post, QuitAsync),
                _ => NotFoundAsync(context),
            };
        }

        if (port == StatsEndPoint.Port)
        {
            return path is "/metrics" or "/stats/prometheus" ? Get(context, MetricsAsync) : NotFoundAsync(context);
        }

        if (port == ReadinessEndPoint.Port)
        {
            return path == "/healthz/ready" ? Get(context, ReadyAsync) : NotFoundAsync(context);
        }

        return NotFoundAsync(context);
    }

    private static Task Get(HttpContext context, Func<HttpContext, Task> handler) => Only(context, HttpMethods.Get, handler);

    private static Task Only(HttpContext context, string method, Func<HttpContext, Task> handler)
    {
        if (string.Equals(context.Request.Method, method, StringComparison.OrdinalIgnoreCase))
        {
            return handler(context);
        }

        context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        context.Response.Headers.Allow = method;
        return TextAsync(context, "method not allowed\n");
    }

    private static Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return TextAsync(context, "not found\n");
    }

    private static Task TextAsync(HttpContext context, string text)
    {
        context.Response.ContentType = TextContentType;
        return context.Response.WriteAsync(text, context.RequestAborted);
    }

    private static Task ListEndpointsAsync(HttpContext context) => TextAsync(context,
        "GET  /config_dump   workloads, services, policies and enrolled pods (JSON)\n" +
        "POST /quitquitquit  shut the proxy down\n");

    private async Task ConfigDumpAsync(HttpContext context)
    {
        WorkloadSnapshot snapshot = _options.Snapshot();
        IReadOnlyList<EnrolledPod> pods = _options.Pods();
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using (var writer = new Utf8JsonWriter(context.Response.BodyWriter, new JsonWriterOptions { Indented = true }))
        {
            ConfigDump.Write(writer, snapshot, pods, _options.Certificates(), _options.Xds());
            await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }

    private Task QuitAsync(HttpContext context)
    {
        _options.RequestShutdown();
        return TextAsync(context, "OK");
    }

    private static Task MetricsAsync(HttpContext context)
    {
        // Reached only without a meter (with one, the exporter's branch answers): an exposition with no series.
        context.Response.ContentType = PrometheusMetrics.TextContentType;
        return Task.CompletedTask;
    }

    private Task ReadyAsync(HttpContext context)
    {
        bool ready = _options.IsReady();
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        return TextAsync(context, ready ? "ready" : "not ready");
    }

    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
