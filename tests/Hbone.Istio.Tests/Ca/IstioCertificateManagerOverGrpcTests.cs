using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Tests.Infrastructure;

namespace Hbone.Istio.Tests.Ca;

public sealed class IstioCertificateManagerOverGrpcTests : IAsyncLifetime
{
    private static readonly SpiffeId Pod = SpiffeId.ForIstio("cluster.local", "default", "reviews");

    private readonly string _dir = Directory.CreateTempSubdirectory("hbone-ca-").FullName;
    private readonly DevelopmentCertificateAuthority _ca = new();
    private readonly ManualClock _clock = new(DateTimeOffset.UtcNow);
    private readonly CancellationTokenSource _timeout = new(Eventually.DefaultTimeout);
    private ScriptedCaServer _server = null!;
    private ControlPlaneChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _server = await ScriptedCaServer.StartAsync(_ca);
        File.WriteAllText(Path.Combine(_dir, "istio-token"), "node-token");
        _channel = new ControlPlaneChannel(new IstioConnectionOptions
        {
            Address = _server.Address,
            RootCertificate = _server.WriteRootPem(Path.Combine(_dir, "root-cert.pem")),
            TokenPath = Path.Combine(_dir, "istio-token"),
        });
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
        _ca.Dispose();
        _timeout.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task CA_11_a_renewal_answered_with_another_identity_keeps_the_old_certificate_and_retries()
    {
        await using IstioCertificateManager manager = new(new IstioCaClient(_channel, impersonate: true), timeProvider: _clock);
        ISvidSource source = await manager.GetAsync(Pod, _timeout.Token);
        Svid first = source.GetSvid();
        Assert.Equal(Pod, first.Id);

        _server.Behavior = ScriptedCaBehavior.OtherIdentity;
        _clock.AdvanceTo(await NextTimerAsync(requests: 1));
        await NextTimerAsync(requests: 2);

        Assert.Same(first, source.GetSvid());
        CertificateStatus status = Assert.Single(manager.Describe());
        Assert.Equal("Available", status.State);
        Assert.Contains(_server.OtherIdentity.ToString(), status.LastError, StringComparison.Ordinal);
        Assert.Equal(first.Certificate.SerialNumber, Assert.Single(status.CertChain).SerialNumber);

        _server.Behavior = ScriptedCaBehavior.Sign;
        DateTimeOffset retryAt = _clock.PendingDueTimes[0];
        await Eventually.EventAsync(h => source.Changed += h, h => source.Changed -= h, () => _clock.AdvanceTo(retryAt), "the retried renewal");
        Svid renewed = source.GetSvid();
        Assert.Equal(Pod, renewed.Id);
        Assert.NotEqual(first.Certificate.SerialNumber, renewed.Certificate.SerialNumber);
        Assert.Equal(3, _server.Requests.Count);
        Assert.All(_server.Requests, r => Assert.Equal(Pod.ToString(), r.Request.Metadata.Fields["ImpersonatedIdentity"].StringValue));
        Assert.Equal(_ca.RootCertificate.Thumbprint, Assert.Single(manager.GetTrustBundle().Roots).Thumbprint);
    }

    private async Task<DateTimeOffset> NextTimerAsync(int requests)
    {
        await Eventually.TrueAsync(() => _server.Requests.Count == requests && _clock.PendingDueTimes.Count == 1, $"a pending timer after {requests} requests");
        return _clock.PendingDueTimes[0];
    }
}
