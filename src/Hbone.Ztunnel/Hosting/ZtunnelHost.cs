using System.Diagnostics;
using System.Net;
using Hbone.Client;
using Hbone.Kestrel;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Identity;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Xds;
using Hbone.Ztunnel.Zds;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Hosting;

/// <summary>
/// The whole node proxy: config and state, identities, the shared HBONE client, the inbound HBONE server, the pods
/// handed over by the node agent, and the admin endpoints. <see cref="DrainAsync"/> is the graceful shutdown.
/// </summary>
internal sealed partial class ZtunnelHost : IAsyncDisposable
{
    private readonly ZtunnelConfig _config;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly IWorkloadCertificates _identities;
    private readonly ProxyContext _context;
    private readonly ConfigWatcher? _watcher;
    private readonly XdsConfigSource? _xds;
    private readonly CertificatePrefetcher _prefetcher;
    private readonly TaskCompletionSource _shutdownRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _inbound;
    private ZdsClient? _zds;

    private ZtunnelHost(ZtunnelConfig config, ILoggerFactory loggerFactory, ConnectionReporter reporter)
    {
        _config = config;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Hbone.Ztunnel");
        StartupWarnings.Log(config, _logger);
        var store = new WorkloadStore(config.TrustDomain, config.Network);
        _identities = config.CaAddress is not null
            ? new IstioWorkloadCertificates(config, loggerFactory)
            : WorkloadIdentities.Create(config.CertDir, config.CaRootCert, config.CaRootKey, config.TrustDomain);
        _prefetcher = new CertificatePrefetcher(_identities, config.NodeName, loggerFactory.CreateLogger<CertificatePrefetcher>());
        var pods = new PodRegistry(loggerFactory.CreateLogger<PodRegistry>());
        _context = new ProxyContext(config, store, _identities, pods, reporter, loggerFactory);
        pods.Attach(_context);
        if (config.XdsAddress is not null)
        {
            _xds = new XdsConfigSource(config, store, loggerFactory);
            _xds.Changed += OnConfigChanged;
        }
        else if (config.LocalXdsPath is { } path)
        {
            _watcher = new ConfigWatcher(path, store, logger: loggerFactory.CreateLogger<ConfigWatcher>());
            _watcher.Changed += OnConfigChanged;
        }
    }

    /// <summary>The current workload state.</summary>
    public WorkloadStore Store => _context.Store;

    /// <summary>The pods being served.</summary>
    public PodRegistry Pods => _context.Pods;

    /// <summary>
    /// Ready once the config is in (with xDS: the first response of each type applied), this node's workloads have
    /// their certificates (with istiod's CA), and the node agent's first snapshot was set up without failure.
    /// </summary>
    public bool IsReady => _zds?.Ready.IsCompletedSuccessfully == true
        && (_xds is null || _xds.Ready.IsCompleted)
        && (_config.CaAddress is null || _prefetcher.AllAvailable);

    /// <summary>The xDS stream to istiod, for <c>/config_dump</c>; null with the local config.</summary>
    public XdsStatus? Xds => _xds?.Status;

    /// <summary>The workload certificates, for <c>/config_dump</c>.</summary>
    public IReadOnlyList<Hbone.Istio.Ca.CertificateStatus> Certificates => _identities.Describe();

    /// <summary>Completes when an operator asked for shutdown (<c>/quitquitquit</c>).</summary>
    public Task ShutdownRequested => _shutdownRequested.Task;

    /// <summary>Asks the process to drain and exit.</summary>
    public void RequestShutdown() => _shutdownRequested.TrySetResult();

    /// <summary>Loads the config, starts the inbound server, connects to the node agent.</summary>
    /// <exception cref="LocalConfigException">The local config is not valid.</exception>
    public static async Task<ZtunnelHost> StartAsync(ZtunnelConfig config, ILoggerFactory loggerFactory, ConnectionReporter reporter, CancellationToken cancellationToken)
    {
        var host = new ZtunnelHost(config, loggerFactory, reporter);
        try
        {
            host._watcher?.Start();
            host._xds?.Start();
            host._prefetcher.Update(host.Store.Current);
            host._context.Client = host.CreateClient();
            host._inbound = host.CreateInboundServer();
            await host._inbound.StartAsync(cancellationToken).ConfigureAwait(false);
            host._zds = new ZdsClient(config.InpodUds, host._context.Pods);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Graceful shutdown: no new connections, GOAWAY on HBONE connections, open ones continue until the deadline, then close.</summary>
    public async Task DrainAsync()
    {
        Log.Draining(_logger, _config.DrainDeadline.TotalSeconds);
        if (_zds is not null)
        {
            await _zds.DisposeAsync().ConfigureAwait(false);
            _zds = null;
        }

        var started = Stopwatch.GetTimestamp();
        var pods = _context.Pods.DrainAllAsync(_config.DrainDeadline);
        var inbound = _inbound?.StopAsync(CancellationToken.None) ?? Task.CompletedTask;
        await Task.WhenAll(pods, inbound).ConfigureAwait(false);
        Log.Drained(_logger, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    public async ValueTask DisposeAsync()
    {
        if (_zds is not null)
        {
            await _zds.DisposeAsync().ConfigureAwait(false);
        }

        await _context.Pods.DisposeAsync().ConfigureAwait(false);
        if (_inbound is not null)
        {
            await _inbound.DisposeAsync().ConfigureAwait(false);
        }

        if (_context.Client is not null)
        {
            await _context.Client.DisposeAsync().ConfigureAwait(false);
        }

        _watcher?.Dispose();
        if (_xds is not null)
        {
            await _xds.DisposeAsync().ConfigureAwait(false);
        }

        await _identities.DisposeAsync().ConfigureAwait(false);
    }

    private HboneClient CreateClient() => new(
        new HboneClientOptions
        {
            TrustBundle = _identities,
            MaxStreamsPerConnection = _config.PoolMaxStreamsPerConnection,
            PooledConnectionIdleTimeout = _config.PoolUnusedReleaseTimeout,
            // Our relay never blocks while it awaits a read: with inline socket completions, skip the hop per exchange.
            UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline,
            CreateSocket = dial => (dial.SourceAddress is { } source ? _context.Pods.FindByAddress(source) : null)?.Sockets.Outbound(dial.Destination.AddressFamily, dial.SourceAddress)
                ?? throw new HboneException(HboneErrorReason.ConnectionFailed, $"no enrolled pod has the source address {dial.SourceAddress}"),
        },
        _loggerFactory);

    private WebApplication CreateInboundServer()
    {
        // Configured by the ztunnel's environment alone: no appsettings.json, no ASPNETCORE_*, and no recursive watch of the
        // working directory (the image runs from /) that the slim builder sets up for configuration reloads.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.Services.AddSingleton<IConnectionListenerFactory>(_context.InboundTransport);
        var handler = new InboundHboneHandler(_context);
        builder.Services.AddHboneServer(options =>
        {
            options.TrustBundle = _identities;
            // The pods close their tunnels at the deadline with the reason; Kestrel's own abort a second later is only a backstop.
            options.DrainTimeout = _config.DrainDeadline + TimeSpan.FromSeconds(1);
            options.CertificateSelector = new InboundCertificates(_context, _loggerFactory.CreateLogger<InboundCertificates>()).Select;
            options.UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline;
        }).AddHandler(handler.HandleAsync);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.ListenHbone(PodInboundEndPoint.Instance));
        var app = builder.Build();
        return app;
    }

    private void OnConfigChanged(object? sender, ConfigChangedEventArgs e)
    {
        if (!e.Applied)
        {
            return;
        }

        _context.NotifyConfigChanged();
        _prefetcher.Update(e.Snapshot!);
        var closed = _context.Pods.RecheckAll();
        if (closed > 0)
        {
            Log.LateRejected(_logger, closed);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "draining: open connections may continue for {Seconds} s")]
        public static partial void Draining(ILogger logger, double seconds);

        [LoggerMessage(3, LogLevel.Information, "drained in {Milliseconds:0} ms")]
        public static partial void Drained(ILogger logger, double milliseconds);

        [LoggerMessage(2, LogLevel.Information, "config changed: closed {Count} connections the new policy denies")]
        public static partial void LateRejected(ILogger logger, int count);
    }
}
