using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Xds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Waypoint.Mesh;

/// <summary>
/// The waypoint joined to a mesh through Hbone.Istio: its SVID and trust bundle from istiod's CA (renewed at half their
/// lifetime), its services from istiod's delta xDS (kept up to date while it runs).
/// </summary>
public sealed class WaypointMesh : IAsyncDisposable
{
    private readonly ControlPlaneChannel _xdsChannel;
    private readonly ControlPlaneChannel _caChannel;
    private readonly DeltaXdsClient _xds;

    private WaypointMesh(WaypointMeshOptions options, ILoggerFactory loggers)
    {
        _xdsChannel = new ControlPlaneChannel(options.Xds);
        try
        {
            _caChannel = new ControlPlaneChannel(options.Ca);
        }
        catch
        {
            _xdsChannel.Dispose();
            throw;
        }

        Certificates = new IstioCertificateManager(new IstioCaClient(_caChannel, logger: loggers.CreateLogger<IstioCaClient>()), logger: loggers.CreateLogger<IstioCertificateManager>());
        Identity = Certificates.For(options.Identity);
        State = new IstioMeshState();
        Services = new MeshServiceSource(State, options.Identity.TrustDomain);
        _xds = new DeltaXdsClient(_xdsChannel, new XdsClientOptions { Node = options.Node }, loggers.CreateLogger<DeltaXdsClient>()).SubscribeIstio(State);
    }

    /// <summary>The CA's certificates; also the trust bundle (the mesh root) peers are checked against.</summary>
    public IstioCertificateManager Certificates { get; }

    /// <summary>The waypoint's own SVID, renewed by <see cref="Certificates"/>.</summary>
    public ISvidSource Identity { get; }

    /// <summary>The mesh as istiod last sent it.</summary>
    public IstioMeshState State { get; }

    /// <summary>The services the waypoint routes, from <see cref="State"/>.</summary>
    public MeshServiceSource Services { get; }

    /// <summary>Asks the CA for the waypoint's certificate and subscribes to xDS; completes when both have answered once.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first (both keep retrying until then).</exception>
    /// <exception cref="Hbone.Istio.IstioException">A root certificate (<c>XDS_ROOT_CA</c>/<c>CA_ROOT_CA</c>) cannot be read.</exception>
    public static async Task<WaypointMesh> JoinAsync(WaypointMeshOptions options, ILoggerFactory? loggers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var mesh = new WaypointMesh(options, loggers ?? NullLoggerFactory.Instance);
        try
        {
            mesh._xds.Start();
            await mesh.Certificates.GetAsync(options.Identity, cancellationToken);
            await mesh._xds.Ready.WaitAsync(cancellationToken);
            return mesh;
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops xDS and certificate renewal and closes the connections to istiod.</summary>
    public async ValueTask DisposeAsync()
    {
        await _xds.DisposeAsync();
        await Certificates.DisposeAsync();
        _xdsChannel.Dispose();
        _caChannel.Dispose();
    }
}
