using System.Net;
using System.Runtime.InteropServices;
using Hbone.Identity;
using Hbone.Ztunnel.Admin;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Hosting;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

// hbone-ztunnel: the reference ztunnel, configured by environment variables with ztunnel's names (see README).
// Exit codes: 0 after a graceful drain (SIGTERM, SIGINT or POST /quitquitquit); 1 when it cannot start (one line on stderr).
if (args.Length > 0)
{
    if (args is ["--help"] or ["-h"])
    {
        Console.WriteLine("""
            hbone-ztunnel: the reference ztunnel (Istio ambient node proxy, in-pod mode), configured by environment variables.
              LOCAL_XDS_PATH   workloads, services and policies (ztunnel local-config YAML), reloaded on change
              NODE_NAME, CLUSTER_ID, NETWORK, TRUST_DOMAIN
              INPOD_UDS        the node agent's ZDS socket (/var/run/ztunnel/ztunnel.sock)
              XDS_ADDRESS      istiod's xDS (https://host:15012): workloads, services and policies over delta xDS
              CA_ADDRESS       istiod's CA (default: XDS_ADDRESS); XDS_ROOT_CA, CA_ROOT_CA, AUTH_TOKEN, SECRET_TTL
              CA_ROOT_CERT, CA_ROOT_KEY   without istiod: the CA that issues pod certificates (else CERT_DIR, else an in-process CA)
              TERMINATION_GRACE_PERIOD_SECONDS, LOG_FORMAT=json, and the port variables: see README.md
            Admin 127.0.0.1:15000 (/config_dump, POST /quitquitquit), metrics :15020, readiness :15021.
            Exit codes: 0 after a drain (SIGTERM, SIGINT, /quitquitquit), 1 when it cannot start.
            """);
        return 0;
    }

    return Fail($"unexpected argument '{args[0]}': configure with environment variables (see --help)");
}

// Before any socket exists: the proxy never blocks on a socket completion, so completions run inline, saving a
// thread-pool hop per receive (docs/benchmarks.md). DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 turns it off.
Hbone.Hosting.SocketCompletions.PreferInline();

// Last words before a crash: one line naming what escaped, for the operator.
AppDomain.CurrentDomain.UnhandledException += (_, e) => Console.Error.WriteLine($"hbone-ztunnel: fatal: {e.ExceptionObject}");

ZtunnelConfig config;
try
{
    config = ZtunnelConfig.FromEnvironment();
}
catch (ZtunnelConfigException ex)
{
    return Fail(ex.Message);
}

using var loggerFactory = LoggerFactory.Create(logging => logging
    .AddSimpleConsole(console =>
    {
        console.SingleLine = true;
        console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        console.UseUtcTimestamp = true;
    })
    .AddFilter("Microsoft", LogLevel.Warning)
    .AddFilter("Hbone.Kestrel", LogLevel.Warning)
    .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
using var metrics = new ZtunnelMetrics();
// Collecting from here on: connections the proxies make before the admin server listens count too.
using var prometheus = new PrometheusMetrics(metrics.Meter);
using var reporter = new ConnectionReporter(metrics, new AccessLogWriter(Console.Out, config.JsonLogs));

ZtunnelHost host;
try
{
    host = await ZtunnelHost.StartAsync(config, loggerFactory, reporter, CancellationToken.None);
}
catch (Exception ex) when (ex is LocalConfigException or CertificateLoadException or Hbone.Istio.IstioException)
{
    return Fail(ex.Message);
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
{
    return Fail($"cannot start: {ex.Message}");
}

await using (host)
{
    AdminServer admin;
    try
    {
        admin = await AdminServer.StartAsync(
            new AdminServerOptions
            {
                Admin = new IPEndPoint(IPAddress.Loopback, config.AdminPort),
                Stats = new IPEndPoint(IPAddress.Any, config.StatsPort),
                Readiness = new IPEndPoint(IPAddress.Any, config.ReadinessPort),
                Snapshot = () => host.Store.Current,
                Pods = () => [.. host.Pods.Pods.Select(EnrolledPod.From)],
                Certificates = () => host.Certificates,
                Xds = () => host.Xds,
                Metrics = metrics.Meter,
                Exporter = prometheus,
                IsReady = () => host.IsReady,
                RequestShutdown = host.RequestShutdown,
            },
            CancellationToken.None);
    }
    catch (IOException ex)
    {
        return Fail($"cannot open the admin ports: {ex.Message}");
    }

    await using (admin)
    {
        // Once ready, or after 30 s when readiness waits on a node agent or istiod: start-up is over either way.
        using var stopping = new CancellationTokenSource();
        Task startupPages = config.ReleaseStartupPages
            ? StartupPages.ReleaseWhenReadyAsync(() => host.IsReady, TimeSpan.FromSeconds(30), loggerFactory.CreateLogger("Hbone.Ztunnel.Hosting"), stopping.Token)
            : Task.CompletedTask;
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            signalled.TrySetResult();
        }

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        await Task.WhenAny(signalled.Task, host.ShutdownRequested);
        await stopping.CancelAsync();
        await startupPages.ContinueWith(static _ => { }, TaskScheduler.Default);
        await host.DrainAsync();
    }
}

return 0;

static int Fail(string message)
{
    Console.Error.WriteLine($"hbone-ztunnel: error: {message.ReplaceLineEndings(" ")}");
    return 1;
}
