namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The development istiod (<c>samples/ControlPlane</c>, built by scripts/test.sh from the packed packages) in node-a's
/// namespace on its node address, port 15012: delta xDS from a local-config YAML and a CA, one bearer token per node.
/// </summary>
internal sealed class ControlPlaneProcess : NodeProcess
{
    /// <summary>istiod's port.</summary>
    public const int Port = 15012;

    private ControlPlaneProcess(LabNode node, IEnumerable<string> arguments)
        : base("control plane", node, Dll, arguments, new Dictionary<string, string?>())
    {
    }

    /// <summary>The sample's built program.</summary>
    public static string Dll => Path.Combine(Repo.Root, "samples", "ControlPlane", "bin", Repo.Configuration, "net10.0", "controlplane.dll");

    /// <summary>Starts it on <paramref name="node"/>'s address, serving <paramref name="configPath"/> and signing with the CA in <paramref name="caDirectory"/>.</summary>
    /// <param name="node">The node it runs on (node-a in these tests).</param>
    /// <param name="configPath">The mesh YAML.</param>
    /// <param name="caDirectory">ca.pem and ca.key.</param>
    /// <param name="tokens">Node name to bearer token.</param>
    public static ControlPlaneProcess Start(LabNode node, string configPath, string caDirectory, IReadOnlyDictionary<string, string> tokens)
    {
        List<string> arguments =
        [
            "--listen", $"{node.Ip}:{Port}", "--config", configPath,
            "--ca-cert", Path.Combine(caDirectory, "ca.pem"), "--ca-key", Path.Combine(caDirectory, "ca.key"),
        ];
        foreach (var (nodeName, token) in tokens)
        {
            arguments.AddRange(["--node-token", $"{nodeName}={token}"]);
        }

        return new ControlPlaneProcess(node, arguments);
    }

    /// <summary>The address ztunnels dial (XDS_ADDRESS).</summary>
    public Uri Address => new($"https://{Node.Ip}:{Port}");

    /// <summary>Waits for the line saying it serves.</summary>
    public Task WaitServingAsync(TimeSpan deadline) =>
        WaitForLineAsync(l => l.Contains("serving xDS and CA on", StringComparison.Ordinal), deadline);

    /// <summary>
    /// The environment that points a ztunnel at this control plane instead of the local file and CA (null values remove
    /// the <see cref="ZtunnelProcess.Start"/> defaults).
    /// </summary>
    public IReadOnlyDictionary<string, string?> ZtunnelEnvironment(string caDirectory, string tokenPath) => ZtunnelEnvironmentFor(Address, caDirectory, tokenPath);

    /// <summary>The same for a control plane at <paramref name="address"/> (which may be down).</summary>
    public static IReadOnlyDictionary<string, string?> ZtunnelEnvironmentFor(Uri address, string caDirectory, string tokenPath) => new Dictionary<string, string?>
    {
        ["LOCAL_XDS_PATH"] = null,
        ["CA_ROOT_CERT"] = null,
        ["CA_ROOT_KEY"] = null,
        ["XDS_ADDRESS"] = address.ToString(),
        ["XDS_ROOT_CA"] = Path.Combine(caDirectory, "ca.pem"),
        ["CA_ROOT_CA"] = Path.Combine(caDirectory, "ca.pem"),
        ["AUTH_TOKEN"] = tokenPath,
    };
}
