using Hbone.Identity;
using Hbone.Ztunnel.Identity;

namespace Hbone.Ztunnel.Tests.Identity;

public sealed class WorkloadIdentitiesRenewalTests
{
    private static readonly SpiffeId Echo = SpiffeId.ForIstio("cluster.local", "default", "echo");

    [Fact]
    [Trait("case", "ZT-UNIT-40")]
    public void A_certificate_is_renewed_past_half_its_lifetime_and_not_before()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero));
        using var identities = WorkloadIdentities.FromAuthority(new DevelopmentCertificateAuthority("cluster.local", time), time);
        var source = identities.For(Echo);
        var first = source.GetSvid();

        time.Now += TimeSpan.FromHours(11);
        Assert.Equal(0, identities.RenewDue());
        Assert.Same(first, source.GetSvid());

        time.Now += TimeSpan.FromHours(2);
        Assert.Equal(1, identities.RenewDue());
        var renewed = source.GetSvid();
        Assert.NotSame(first, renewed);
        Assert.Equal(Echo, renewed.Id);
        Assert.Equal(first.NotAfter + TimeSpan.FromHours(13), renewed.NotAfter);
        Assert.Same(source, identities.For(Echo));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-41")]
    public void Certificates_from_a_directory_are_not_reissued()
    {
        using var ca = new DevelopmentCertificateAuthority();
        var directory = Directory.CreateTempSubdirectory("hbone-renew-").FullName;
        try
        {
            using var svid = ca.Issue(Echo);
            File.WriteAllText(Path.Combine(directory, "ca.pem"), ca.ExportRootPem());
            File.WriteAllText(Path.Combine(directory, "echo.pem"), svid.ExportCertificateChainPem());
            File.WriteAllText(Path.Combine(directory, "echo.key"), svid.ExportPrivateKeyPem());
            using var identities = WorkloadIdentities.Create(directory, null, null, "cluster.local");

            Assert.Equal(Echo, identities.For(Echo).GetSvid().Id);
            Assert.Equal(0, identities.RenewDue());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
