using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Istio.Tests.Ca;

public sealed class IstioCertificateManagerTests : IDisposable
{
    private static readonly SpiffeId A = SpiffeId.ForIstio("cluster.local", "a", "a");
    private static readonly SpiffeId B = SpiffeId.ForIstio("cluster.local", "b", "b");
    private static readonly SpiffeId C = SpiffeId.ForIstio("cluster.local", "c", "c");

    private readonly ManualClock _clock = new(DateTimeOffset.UtcNow);
    private readonly DevelopmentCertificateAuthority _ca;
    private readonly ScriptedIssuer _issuer;
    private readonly CancellationTokenSource _timeout = new(Eventually.DefaultTimeout);

    public IstioCertificateManagerTests()
    {
        _ca = new DevelopmentCertificateAuthority("cluster.local", _clock);
        _issuer = new ScriptedIssuer(_ca);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _timeout.Dispose();
    }

    [Fact]
    public async Task ID_14_renews_at_half_the_lifetime_minus_jitter()
    {
        await using IstioCertificateManager manager = new(_issuer, new IstioCertificateManagerOptions { RenewalJitter = 0.05 }, timeProvider: _clock);
        ISvidSource source = await manager.GetAsync(A, _timeout.Token);
        Svid first = source.GetSvid();

        DateTimeOffset due = await NextTimerAsync();
        TimeSpan lifetime = first.NotAfter - first.NotBefore;
        DateTimeOffset half = first.NotBefore + (lifetime / 2);
        Assert.InRange(due, half - (lifetime * 0.05), half);

        _clock.AdvanceTo(due - TimeSpan.FromSeconds(1));
        Assert.Equal([due], _clock.PendingDueTimes);
        Assert.Equal(1, _issuer.Calls);

        await RaisedAsync(source, () => _clock.AdvanceTo(due), "the renewal");
        Svid second = source.GetSvid();
        Assert.NotEqual(first.Certificate.SerialNumber, second.Certificate.SerialNumber);
        Assert.Equal(2, _issuer.Calls);
        Assert.True(second.NotAfter > first.NotAfter);
    }

    [Fact]
    public async Task ID_14_ca_unreachable_at_renewal_keeps_the_old_certificate_retries_with_backoff_and_fails_closed_after_expiry()
    {
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        ISvidSource source = await manager.GetAsync(A, _timeout.Token);
        Svid first = source.GetSvid();
        _issuer.Fail = _ => new IstioException(IstioErrorReason.ControlPlaneUnavailable, "ca down");
        _clock.AdvanceTo(await NextTimerAsync());

        List<TimeSpan> delays = [];
        for (int calls = 2; calls < 14; calls++)
        {
            DateTimeOffset retryAt = await NextTimerAsync(calls);
            delays.Add(retryAt - _clock.GetUtcNow());
            Assert.Same(first, source.GetSvid());
            CertificateStatus status = Assert.Single(manager.Describe());
            Assert.Equal("Available", status.State);
            Assert.Equal("ca down", status.LastError);
            _clock.AdvanceTo(retryAt);
        }

        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(150)));
        Assert.True(delays[0] < TimeSpan.FromSeconds(5), $"first retry after {delays[0]}");
        Assert.True(delays.Max() >= TimeSpan.FromSeconds(60), $"backoff grew only to {delays.Max()}");

        // Past expiry with the CA still down: new handshakes fail closed with a clear error.
        await NextTimerAsync(14);
        _clock.AdvanceTo(first.NotAfter + TimeSpan.FromSeconds(1));
        await NextTimerAsync(15);
        IstioException expired = Assert.Throws<IstioException>(source.GetSvid);
        Assert.Equal(IstioErrorReason.CertificateUnavailable, expired.Reason);
        Assert.Contains("expired", expired.Message, StringComparison.Ordinal);
        Assert.Contains("ca down", expired.Message, StringComparison.Ordinal);
        Assert.Equal("Unavailable", Assert.Single(manager.Describe()).State);
        Assert.False(manager.IsAvailable(A));

        _issuer.Fail = null;
        await RaisedAsync(source, () => _clock.AdvanceTo(_clock.PendingDueTimes[0]), "the recovery");
        Assert.NotEqual(first.Certificate.SerialNumber, source.GetSvid().Certificate.SerialNumber);
        CertificateStatus recovered = Assert.Single(manager.Describe());
        Assert.Equal("Available", recovered.State);
        Assert.Null(recovered.LastError);
        Assert.True(manager.IsAvailable(A));
    }

    [Fact]
    public async Task CA_12_at_most_eight_csrs_are_in_flight_across_identities()
    {
        TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _issuer.Gate = _ => release.Task;
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        SpiffeId[] ids = [.. Enumerable.Range(0, 20).Select(i => SpiffeId.ForIstio("cluster.local", "ns", $"sa-{i}"))];
        foreach (SpiffeId id in ids)
        {
            manager.Prefetch(id);
        }

        await Eventually.TrueAsync(() => _issuer.InFlight == 8, "eight CSRs in flight");
        Assert.Equal(8, _issuer.Calls);

        release.SetResult();
        foreach (SpiffeId id in ids)
        {
            Assert.Equal(id, (await manager.GetAsync(id, _timeout.Token)).GetSvid().Id);
        }

        Assert.Equal(8, _issuer.MaxInFlight);
        Assert.Equal(20, _issuer.Calls);
        Assert.Equal(20, _issuer.Requested.Distinct().Count());
    }

    [Fact]
    public async Task CA_13_forget_stops_renewals_and_drops_the_identity()
    {
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        await manager.GetAsync(A, _timeout.Token);
        await NextTimerAsync();

        manager.Forget(A);

        await Eventually.TrueAsync(() => _clock.PendingDueTimes.Count == 0, "the renewal timer to be cancelled");
        _clock.Advance(TimeSpan.FromDays(2));
        Assert.Equal(1, _issuer.Calls);
        Assert.False(manager.IsAvailable(A));
        Assert.Empty(manager.Describe());
    }

    [Fact]
    public async Task CA_14_forgetting_an_identity_fails_its_waiters()
    {
        _issuer.Gate = _ => Task.Delay(Timeout.Infinite, _timeout.Token);
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        ValueTask<ISvidSource> waiting = manager.GetAsync(A, _timeout.Token);
        await Eventually.TrueAsync(() => _issuer.Calls == 1, "the first fetch");

        manager.Forget(A);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(async () => await waiting);
        Assert.Equal(IstioErrorReason.CertificateUnavailable, ex.Reason);
    }

    [Fact]
    public async Task CA_15_describe_reports_state_error_serials_and_roots_per_identity()
    {
        _issuer.Gate = id => id == B ? Task.Delay(Timeout.Infinite, _timeout.Token) : Task.CompletedTask;
        _issuer.Fail = id => id == C ? new IstioException(IstioErrorReason.ControlPlaneUnavailable, "ca down") : null;
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        Svid a = (await manager.GetAsync(A, _timeout.Token)).GetSvid();
        ISvidSource b = manager.For(B);
        ISvidSource c = manager.For(C);
        await Eventually.TrueAsync(() => manager.Describe().Any(s => s.Identity == C.ToString() && s.LastError is not null), "C's first failure");

        IReadOnlyList<CertificateStatus> statuses = manager.Describe();
        Assert.Equal([A.ToString(), B.ToString(), C.ToString()], statuses.Select(s => s.Identity));

        Assert.Equal("Available", statuses[0].State);
        Assert.Null(statuses[0].LastError);
        CertificateDetails leaf = Assert.Single(statuses[0].CertChain);
        Assert.Equal(a.Certificate.SerialNumber, leaf.SerialNumber);
        Assert.Equal(a.NotBefore.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture), leaf.ValidFrom);
        Assert.Equal(a.NotAfter.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture), leaf.ExpirationTime);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", leaf.Pem, StringComparison.Ordinal);
        Assert.Equal(_ca.RootCertificate.SerialNumber, Assert.Single(statuses[0].RootCerts).SerialNumber);

        Assert.Equal("Initializing", statuses[1].State);
        Assert.Empty(statuses[1].CertChain);
        Assert.Equal(IstioErrorReason.CertificateUnavailable, Assert.Throws<IstioException>(b.GetSvid).Reason);

        Assert.Equal("Unavailable", statuses[2].State);
        Assert.Equal("ca down", statuses[2].LastError);
        Assert.Empty(statuses[2].RootCerts);
        IstioException unavailable = Assert.Throws<IstioException>(c.GetSvid);
        Assert.Equal(IstioErrorReason.CertificateUnavailable, unavailable.Reason);
        Assert.Contains(C.ToString(), unavailable.Message, StringComparison.Ordinal);
        Assert.Contains("ca down", unavailable.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CA_16_trust_bundle_comes_from_the_issued_roots_and_changes_only_when_they_do()
    {
        await using IstioCertificateManager manager = new(_issuer, timeProvider: _clock);
        Assert.Equal(IstioErrorReason.CertificateUnavailable, Assert.Throws<IstioException>(manager.GetTrustBundle).Reason);
        int bundleChanges = 0;
        manager.Changed += (_, _) => Interlocked.Increment(ref bundleChanges);

        ISvidSource source = await manager.GetAsync(A, _timeout.Token);
        Assert.Equal(_ca.RootCertificate.Thumbprint, Assert.Single(manager.GetTrustBundle().Roots).Thumbprint);
        Assert.Equal(1, bundleChanges);

        // Same roots on renewal: the bundle is not replaced.
        DateTimeOffset due = await NextTimerAsync();
        await RaisedAsync(source, () => _clock.AdvanceTo(due), "a renewal with the same root");
        Assert.Equal(1, bundleChanges);

        using DevelopmentCertificateAuthority rotated = new("cluster.local", _clock);
        _issuer.Ca = rotated;
        due = await NextTimerAsync();
        await RaisedAsync(manager, () => _clock.AdvanceTo(due), "the root rotation");
        Assert.Equal(rotated.RootCertificate.Thumbprint, Assert.Single(manager.GetTrustBundle().Roots).Thumbprint);
        Assert.Equal(2, bundleChanges);
    }

    [Theory]
    [InlineData(0, 0.05)]
    [InlineData(8, 0.5)]
    public void CA_20_options_that_cannot_work_are_rejected(int maxConcurrentFetches, double renewalJitter)
    {
        IstioException ex = Assert.Throws<IstioException>(() => new IstioCertificateManager(_issuer, new IstioCertificateManagerOptions { MaxConcurrentFetches = maxConcurrentFetches, RenewalJitter = renewalJitter }));
        Assert.Equal(IstioErrorReason.InvalidOptions, ex.Reason);
    }

    // The single pending timer (renewal or retry), once the issuer has seen calls calls.
    private async Task<DateTimeOffset> NextTimerAsync(int? calls = null)
    {
        await Eventually.TrueAsync(() => (calls is null || _issuer.Calls == calls) && _clock.PendingDueTimes.Count == 1, $"a pending timer after {calls} calls");
        return _clock.PendingDueTimes[0];
    }

    private static Task RaisedAsync(ISvidSource source, Action trigger, string what) =>
        Eventually.EventAsync(h => source.Changed += h, h => source.Changed -= h, trigger, what);

    private static Task RaisedAsync(ITrustBundleSource source, Action trigger, string what) =>
        Eventually.EventAsync(h => source.Changed += h, h => source.Changed -= h, trigger, what);
}
