using System.Net;
using DevControlPlane.Hosting;
using Grpc.Net.Client;
using Hbone.Identity;
using Hbone.Istio.ControlPlane;

namespace Hbone.Istio.Tests.ControlPlane;

/// <summary>A running development control plane on 127.0.0.1:0 with its own CA and YAML file, and a gRPC channel trusting the mesh root.</summary>
internal sealed class DevControlPlaneTestBed : IAsyncDisposable
{
    /// <summary>Every wait in these tests ends by this deadline (generous: the machine's cores are shared).</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly string _dir;

    private readonly ControlPlaneChannel _channel;

    private DevControlPlaneTestBed(string dir, DevelopmentCertificateAuthority ca, DevControlPlaneHost host, ControlPlaneChannel channel)
    {
        _dir = dir;
        Ca = ca;
        Host = host;
        _channel = channel;
    }

    public DevelopmentCertificateAuthority Ca { get; }

    public DevControlPlaneHost Host { get; }

    public GrpcChannel Channel => _channel.Channel;

    public string ConfigPath => Path.Combine(_dir, "mesh.yaml");

    /// <summary>The mesh root (PEM), as a ztunnel's XDS_ROOT_CA/CA_ROOT_CA names it.</summary>
    public string RootCertificatePath => Path.Combine(_dir, "ca.pem");

    public static async Task<DevControlPlaneTestBed> StartAsync(string yaml, IReadOnlyDictionary<string, string>? nodeByToken = null)
    {
        string dir = Directory.CreateTempSubdirectory("hbone-devcp-").FullName;
        var ca = new DevelopmentCertificateAuthority("cluster.local");
        await File.WriteAllTextAsync(Path.Combine(dir, "ca.pem"), ca.ExportRootPem());
        await File.WriteAllTextAsync(Path.Combine(dir, "ca.key"), ca.ExportRootKeyPem());
        await File.WriteAllTextAsync(Path.Combine(dir, "mesh.yaml"), yaml);
        var options = new DevControlPlaneOptions
        {
            ConfigPath = Path.Combine(dir, "mesh.yaml"),
            CaCertPath = Path.Combine(dir, "ca.pem"),
            CaKeyPath = Path.Combine(dir, "ca.key"),
            CertTtlMax = TimeSpan.FromHours(48),
        };
        options.Listen.Add(new IPEndPoint(IPAddress.Loopback, 0));
        foreach (var (token, node) in nodeByToken ?? new Dictionary<string, string>())
        {
            options.NodeByToken[token] = node;
        }

        using var starting = new CancellationTokenSource(Deadline);
        DevControlPlaneHost host = await DevControlPlaneHost.StartAsync(options, starting.Token);
        // Trust exactly the mesh root, as a ztunnel with XDS_ROOT_CA/CA_ROOT_CA does; the name checked is the listen IP.
        var channel = new ControlPlaneChannel(new IstioConnectionOptions { Address = new Uri($"https://{host.Endpoints[0]}"), RootCertificate = Path.Combine(dir, "ca.pem") });
        return new DevControlPlaneTestBed(dir, ca, host, channel);
    }

    /// <summary>Replaces the YAML atomically (write, then rename over), as a careful editor does.</summary>
    public void WriteConfig(string yaml)
    {
        string temporary = Path.Combine(_dir, $"mesh.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(temporary, yaml);
        File.Move(temporary, ConfigPath, overwrite: true);
    }

    /// <summary>Completes with the outcome of the next reload attempt: null when accepted, else the reason it was rejected.</summary>
    public Task<string?> NextReloadAsync()
    {
        var outcome = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnReloaded(string? reason)
        {
            Host.Mesh.Reloaded -= OnReloaded;
            outcome.TrySetResult(reason);
        }

        Host.Mesh.Reloaded += OnReloaded;
        return outcome.Task.WaitAsync(Deadline);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await Host.DisposeAsync();
        Ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
