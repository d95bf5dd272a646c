using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Ztunnel.Config;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// The pods' certificates from istiod's CA: the node proxy asks for each pod's identity with its own token
/// (impersonation, as ztunnel does), renews at half-life, and keeps serving the old certificate while istiod is away.
/// </summary>
internal sealed class IstioWorkloadCertificates : IWorkloadCertificates
{
    private readonly ControlPlaneChannel? _channel;
    private readonly IstioCertificateManager _manager;

    /// <exception cref="Hbone.Istio.IstioException">The CA root certificate cannot be read, or an option is invalid.</exception>
    public IstioWorkloadCertificates(ZtunnelConfig config, ILoggerFactory loggerFactory)
    {
        _channel = new ControlPlaneChannel(config.CaConnection());
        var client = new IstioCaClient(_channel, config.SecretTtl, impersonate: true, loggerFactory.CreateLogger<IstioCaClient>());
        _manager = new IstioCertificateManager(client, logger: loggerFactory.CreateLogger<IstioCertificateManager>());
    }

    /// <summary>The certificates <paramref name="manager"/> (owned from now on) fetches, through an issuer the caller chose.</summary>
    internal IstioWorkloadCertificates(IstioCertificateManager manager) => _manager = manager;

    /// <summary>Raised when the roots from the CA change.</summary>
    public event EventHandler? Changed
    {
        add => _manager.Changed += value;
        remove => _manager.Changed -= value;
    }

    public TrustBundle GetTrustBundle() => _manager.GetTrustBundle();

    public ISvidSource For(SpiffeId id) => _manager.For(id);

    public ValueTask<ISvidSource> GetAsync(SpiffeId id, CancellationToken cancellationToken) => _manager.GetAsync(id, cancellationToken);

    public void Prefetch(SpiffeId id) => _manager.Prefetch(id);

    public void Forget(SpiffeId id) => _manager.Forget(id);

    public bool IsAvailable(SpiffeId id) => _manager.IsAvailable(id);

    public IReadOnlyList<CertificateStatus> Describe() => _manager.Describe();

    public async ValueTask DisposeAsync()
    {
        await _manager.DisposeAsync().ConfigureAwait(false);
        _channel?.Dispose();
    }
}
