using BenchmarkDotNet.Attributes;
using Hbone.Identity;

namespace Hbone.Benchmarks;

/// <summary>Per-handshake identity costs: parsing a SPIFFE ID, the Istio view, and validating a peer SVID.</summary>
[MemoryDiagnoser]
public class IdentityBenchmarks
{
    private const string IstioId = "spiffe://cluster.local/ns/default/sa/echo";

    private DevelopmentCertificateAuthority _ca = null!;
    private Svid _svid = null!;
    private SvidValidator _validator = null!;
    private SpiffeId _id = null!;

    /// <summary>Creates a dev CA, one leaf and a validator.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _ca = new DevelopmentCertificateAuthority();
        _svid = _ca.IssueIstio("default", "echo");
        _validator = new SvidValidator(_ca.TrustBundle);
        _id = SpiffeId.Parse(IstioId);
    }

    /// <summary>Releases the CA and the leaf.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _svid.Dispose();
        _ca.Dispose();
    }

    /// <summary>Parses an Istio SPIFFE ID.</summary>
    [Benchmark]
    public SpiffeId ParseIstioId() => SpiffeId.Parse(IstioId);

    /// <summary>Splits an ID into namespace and service account.</summary>
    [Benchmark]
    public bool TryGetIstioIdentity() => _id.TryGetIstioIdentity(out _);

    /// <summary>Validates a dev-CA leaf as a client peer (SAN, usages, chain build).</summary>
    [Benchmark]
    public SpiffeId ValidateSvid() => _validator.Validate(_svid.Certificate, null, SvidRole.Client);
}
