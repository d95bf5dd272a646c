using System.Net;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The reference ztunnel (<c>src/Hbone.Ztunnel</c>) running in a node's namespace with the lab's local config, the
/// node agent's ZDS socket and the shared development CA. Its admin (15000), metrics (15020) and readiness (15021)
/// ports are reached from the test process through sockets opened in that namespace.
/// </summary>
internal sealed class ZtunnelProcess : NodeProcess
{
    /// <summary>The admin port: /config_dump, POST /quitquitquit.</summary>
    public const int AdminPort = 15000;

    /// <summary>The Prometheus port: /metrics.</summary>
    public const int MetricsPort = 15020;

    /// <summary>The readiness port: /healthz/ready.</summary>
    public const int ReadinessPort = 15021;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);
    private readonly HttpClient _http;

    private ZtunnelProcess(LabNode node, IReadOnlyDictionary<string, string?> environment)
        : base($"ztunnel {node.Name}", node, Repo.Program("Hbone.Ztunnel"), [], environment)
    {
        _http = PodSockets.HttpClient(node.NetnsPath, RequestTimeout);
    }

    /// <summary>Starts a ztunnel in <paramref name="node"/>'s namespace.</summary>
    /// <param name="node">The node (its name becomes NODE_NAME).</param>
    /// <param name="configPath">The local config (LOCAL_XDS_PATH), e.g. from <see cref="MeshLab.WriteConfigAsync"/>.</param>
    /// <param name="zdsSocket">The node agent's socket (INPOD_UDS).</param>
    /// <param name="caDirectory">A directory with ca.pem and ca.key (CA_ROOT_CERT, CA_ROOT_KEY), e.g. from <see cref="DevCa.CreateAsync"/>.</param>
    /// <param name="extraEnvironment">More variables (a null value removes one).</param>
    public static ZtunnelProcess Start(LabNode node, string configPath, string zdsSocket, string caDirectory, IReadOnlyDictionary<string, string?>? extraEnvironment = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["LOCAL_XDS_PATH"] = configPath,
            ["NODE_NAME"] = node.Name,
            ["INPOD_UDS"] = zdsSocket,
            ["CA_ROOT_CERT"] = Path.Combine(caDirectory, "ca.pem"),
            ["CA_ROOT_KEY"] = Path.Combine(caDirectory, "ca.key"),
        };
        foreach (var (key, value) in extraEnvironment ?? new Dictionary<string, string?>())
        {
            environment[key] = value;
        }

        return new ZtunnelProcess(node, environment);
    }

    /// <summary>Polls <c>http://127.0.0.1:15021/healthz/ready</c> in the node's namespace until it answers 200.</summary>
    /// <exception cref="TimeoutException">Not ready within the deadline, or the process exited; the message carries its output.</exception>
    public async Task WaitReadyAsync(TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        var last = "no answer";
        while (true)
        {
            if (HasExited)
            {
                throw new TimeoutException($"{DisplayName} exited with {ExitCode} before it was ready.{Tail()}");
            }

            try
            {
                using var response = await _http.GetAsync(Url(ReadinessPort, "/healthz/ready"), timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(timeout.Token)}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutException or IOException || (ex is OperationCanceledException && !timeout.IsCancellationRequested))
            {
                last = ex.Message;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        throw new TimeoutException($"{DisplayName} was not ready within {deadline} (last: {last}).{Tail()}");
    }

    /// <summary>GET on the admin port (e.g. <c>/config_dump</c>); the response must be a success.</summary>
    public Task<string> GetAsync(string path, CancellationToken cancellationToken = default) => GetAsync(AdminPort, path, cancellationToken);

    /// <summary>GET on one of the node ports; the response must be a success.</summary>
    public async Task<string> GetAsync(int port, string path, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Url(port, path), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode
            ? body
            : throw new HttpRequestException($"{DisplayName} GET :{port}{path} answered {(int)response.StatusCode}: {body}", null, response.StatusCode);
    }

    /// <summary>The Prometheus text of <c>:15020/metrics</c>.</summary>
    public Task<string> MetricsAsync(CancellationToken cancellationToken = default) => GetAsync(MetricsPort, "/metrics", cancellationToken);

    /// <summary>POST <c>/quitquitquit</c> on the admin port.</summary>
    public async Task<HttpStatusCode> QuitAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsync(Url(AdminPort, "/quitquitquit"), null, cancellationToken);
        return response.StatusCode;
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            _http.Dispose();
        }
    }

    private static Uri Url(int port, string path) => new($"http://127.0.0.1:{port}{path}");
}
