using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public sealed class SvidValidatorTests : IDisposable
{
    private readonly X509Certificate2 _root = TestCertificates.CreateRoot();
    private readonly SvidValidator _validator;

    public SvidValidatorTests()
    {
        _validator = new SvidValidator(new TrustBundle("cluster.local", [_root]));
    }

    public void Dispose() => _root.Dispose();

    private void AssertRejected(X509Certificate2 leaf, SvidValidationError expected, SvidRole role = SvidRole.Client, X509Certificate2Collection? intermediates = null)
    {
        Assert.False(_validator.TryValidate(leaf, intermediates, role, out SpiffeId? id, out SvidValidationError error));
        Assert.Null(id);
        Assert.Equal(expected, error);

        SvidValidationException ex = Assert.Throws<SvidValidationException>(() => _validator.Validate(leaf, intermediates, role));
        Assert.Equal(expected, ex.Error);
        Assert.Equal(HboneErrorReason.InvalidSvid, ex.Reason);
        Assert.Contains(expected.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Well_formed_leaf_is_accepted_and_its_id_returned()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).Build();

        Assert.Equal(SpiffeId.Parse(TestCertificates.WorkloadId), _validator.Validate(leaf, null, SvidRole.Client));
        Assert.True(_validator.TryValidate(leaf, null, SvidRole.Server, out SpiffeId? id, out SvidValidationError error));
        Assert.Equal(TestCertificates.WorkloadId, id.ToString());
        Assert.Equal(SvidValidationError.None, error);
    }

    [Fact]
    [Trait("case", "ID-02")]
    public void Leaf_with_two_uri_sans_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithUris(TestCertificates.WorkloadId, "spiffe://cluster.local/ns/other/sa/x").Build();
        AssertRejected(leaf, SvidValidationError.MultipleUriSans);
    }

    [Fact]
    [Trait("case", "ID-03")]
    public void Leaf_that_is_a_ca_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).AsCa().Build();
        AssertRejected(leaf, SvidValidationError.LeafIsCa);
    }

    [Theory]
    [Trait("case", "ID-03")]
    [InlineData(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign)]
    [InlineData(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign)]
    public void Leaf_with_key_cert_sign_or_crl_sign_is_rejected(X509KeyUsageFlags usage)
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithKeyUsage(usage).Build();
        AssertRejected(leaf, SvidValidationError.KeyCertSignOrCrlSign);
    }

    [Fact]
    [Trait("case", "ID-04")]
    public void Leaf_without_digital_signature_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithKeyUsage(X509KeyUsageFlags.KeyEncipherment).Build();
        AssertRejected(leaf, SvidValidationError.MissingDigitalSignature);
    }

    [Fact]
    [Trait("case", "ID-04")]
    public void Leaf_with_non_critical_key_usage_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithKeyUsage(X509KeyUsageFlags.DigitalSignature, critical: false).Build();
        AssertRejected(leaf, SvidValidationError.KeyUsageNotCritical);
    }

    [Fact]
    [Trait("case", "ID-04")]
    public void Leaf_without_key_usage_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithKeyUsage(null).Build();
        AssertRejected(leaf, SvidValidationError.MissingKeyUsage);
    }

    [Fact]
    [Trait("case", "ID-04")]
    public void Leaf_without_san_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithUris().Build();
        AssertRejected(leaf, SvidValidationError.NoUriSan);
    }

    [Theory]
    [Trait("case", "ID-04")]
    [InlineData("spiffe://cluster.local")]
    [InlineData("https://cluster.local/ns/default/sa/echo")]
    [InlineData("spiffe://cluster.local/ns/%41/sa/echo")]
    public void Leaf_whose_uri_is_not_a_workload_spiffe_id_is_rejected(string uri)
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithUris(uri).Build();
        AssertRejected(leaf, SvidValidationError.InvalidSpiffeId);
    }

    [Fact]
    public void Leaf_of_another_trust_domain_is_rejected_even_if_signed_by_the_root()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithUris("spiffe://evil.example/ns/default/sa/echo").Build();
        AssertRejected(leaf, SvidValidationError.TrustDomainMismatch);
    }

    [Theory]
    [Trait("case", "ID-05")]
    [InlineData(TestCertificates.ServerAuth, SvidRole.Client)]
    [InlineData(TestCertificates.ClientAuth, SvidRole.Server)]
    public void Leaf_whose_eku_lacks_the_peer_role_is_rejected(string onlyPurpose, SvidRole peerRole)
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithExtendedKeyUsage(onlyPurpose).Build();
        AssertRejected(leaf, SvidValidationError.WrongExtendedKeyUsage, peerRole);

        SvidRole otherRole = peerRole == SvidRole.Client ? SvidRole.Server : SvidRole.Client;
        Assert.True(_validator.TryValidate(leaf, null, otherRole, out _, out _));
    }

    [Fact]
    [Trait("case", "ID-05")]
    public void Leaf_without_eku_is_accepted_for_both_roles()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).WithExtendedKeyUsage(null).Build();
        Assert.True(_validator.TryValidate(leaf, null, SvidRole.Client, out _, out _));
        Assert.True(_validator.TryValidate(leaf, null, SvidRole.Server, out _, out _));
    }

    [Fact]
    [Trait("case", "ID-06")]
    public void Expired_leaf_is_rejected_as_expired()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).ValidBetween(DateTimeOffset.UtcNow.AddHours(-5), DateTimeOffset.UtcNow.AddHours(-1)).Build();
        AssertRejected(leaf, SvidValidationError.Expired);
    }

    [Fact]
    [Trait("case", "ID-06")]
    public void Not_yet_valid_leaf_is_rejected_as_not_yet_valid()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).ValidBetween(DateTimeOffset.UtcNow.AddHours(1), DateTimeOffset.UtcNow.AddHours(5)).Build();
        AssertRejected(leaf, SvidValidationError.NotYetValid);
    }

    [Fact]
    [Trait("case", "ID-06")]
    public void Leaf_under_an_expired_intermediate_is_rejected_as_expired_naming_the_intermediate()
    {
        using X509Certificate2 intermediate = TestCertificates.CreateIntermediate(_root, "Expired Intermediate", DateTimeOffset.UtcNow.AddDays(-1).AddMinutes(1), DateTimeOffset.UtcNow.AddHours(-2));
        using X509Certificate2 leaf = TestCertificates.Leaf(intermediate).Build();
        X509Certificate2Collection chain = [intermediate];

        AssertRejected(leaf, SvidValidationError.Expired, intermediates: chain);
        SvidValidationException ex = Assert.Throws<SvidValidationException>(() => _validator.Validate(leaf, chain, SvidRole.Client));
        Assert.Contains("Expired Intermediate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "ID-06")]
    public void Validator_uses_its_time_provider_for_the_chain()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).Build();
        SvidValidator later = new(new TrustBundle("cluster.local", [_root]), new FixedTimeProvider(DateTimeOffset.UtcNow.AddHours(3)));

        Assert.False(later.TryValidate(leaf, null, SvidRole.Client, out _, out SvidValidationError error));
        Assert.Equal(SvidValidationError.Expired, error);
    }

    [Fact]
    public void Leaf_under_a_valid_intermediate_is_accepted_when_the_intermediate_is_sent()
    {
        using X509Certificate2 intermediate = TestCertificates.CreateIntermediate(_root);
        using X509Certificate2 leaf = TestCertificates.Leaf(intermediate).Build();

        Assert.True(_validator.TryValidate(leaf, [intermediate], SvidRole.Server, out SpiffeId? id, out _));
        Assert.Equal(TestCertificates.WorkloadId, id.ToString());
    }

    [Fact]
    [Trait("case", "ID-07")]
    public void Self_signed_leaf_is_rejected()
    {
        using X509Certificate2 leaf = TestCertificates.Leaf(_root).SelfSigned().Build();
        AssertRejected(leaf, SvidValidationError.UntrustedChain);
    }

    [Fact]
    [Trait("case", "ID-07")]
    public void Leaf_of_a_root_not_in_the_bundle_is_rejected()
    {
        using X509Certificate2 otherRoot = TestCertificates.CreateRoot("Other Root");
        using X509Certificate2 leaf = TestCertificates.Leaf(otherRoot).Build();
        AssertRejected(leaf, SvidValidationError.UntrustedChain);
    }

    [Fact]
    [Trait("case", "ID-07")]
    public void Missing_intermediate_is_rejected_quickly_without_fetching_it()
    {
        using X509Certificate2 intermediate = TestCertificates.CreateIntermediate(_root);
        using X509Certificate2 leaf = TestCertificates.Leaf(intermediate).Build();

        // Warm up, then time: a network AIA fetch would take far longer than the budget.
        _validator.TryValidate(leaf, null, SvidRole.Client, out _, out _);
        Stopwatch stopwatch = Stopwatch.StartNew();
        AssertRejected(leaf, SvidValidationError.UntrustedChain);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    [Trait("case", "ID-07")]
    public void Chain_policy_disables_downloads_and_revocation_fetches()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid svid = ca.IssueIstio("default", "echo");
        X509ChainPolicy policy = SvidChainVerifier.CreatePolicy(null, ca.TrustBundle.RootArray, DateTimeOffset.UtcNow);

        Assert.True(policy.DisableCertificateDownloads);
        Assert.Equal(X509RevocationMode.NoCheck, policy.RevocationMode);
        Assert.Equal(X509ChainTrustMode.CustomRootTrust, policy.TrustMode);
        Assert.False(policy.VerificationTimeIgnored);
    }

    [Fact]
    [Trait("case", "ID-12")]
    public void Rotation_accepts_both_roots_during_overlap_and_only_the_new_one_after()
    {
        using DevelopmentCertificateAuthority oldCa = new();
        using DevelopmentCertificateAuthority newCa = new();
        using Svid oldSvid = oldCa.IssueIstio("default", "old");
        using Svid newSvid = newCa.IssueIstio("default", "new");
        TrustBundle current = new("cluster.local", [oldCa.RootCertificate, newCa.RootCertificate]);
        SvidValidator validator = new(() => current);

        Assert.True(validator.TryValidate(oldSvid.Certificate, null, SvidRole.Client, out _, out _));
        Assert.True(validator.TryValidate(newSvid.Certificate, null, SvidRole.Client, out _, out _));

        current = new TrustBundle("cluster.local", [newCa.RootCertificate]);

        Assert.False(validator.TryValidate(oldSvid.Certificate, null, SvidRole.Client, out _, out SvidValidationError error));
        Assert.Equal(SvidValidationError.UntrustedChain, error);
        Assert.True(validator.TryValidate(newSvid.Certificate, null, SvidRole.Client, out SpiffeId? id, out _));
        Assert.Equal("spiffe://cluster.local/ns/default/sa/new", id.ToString());
    }

    [Fact]
    [Trait("case", "ID-13")]
    public void Empty_bundle_rejects_every_svid_of_its_trust_domain()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid svid = ca.IssueIstio("default", "echo");
        SvidValidator validator = new(new TrustBundle("cluster.local", []));

        Assert.False(validator.TryValidate(svid.Certificate, null, SvidRole.Client, out _, out SvidValidationError error));
        Assert.Equal(SvidValidationError.EmptyBundle, error);
        SvidValidationException ex = Assert.Throws<SvidValidationException>(() => validator.Validate(svid.Certificate, null, SvidRole.Server));
        Assert.Equal(SvidValidationError.EmptyBundle, ex.Error);
    }

    private sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
