using Hbone.Identity;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>Certificates for the tests: one development CA of cluster.local, and a foreign one.</summary>
internal sealed class TestPki
{
    public static TestPki Shared { get; } = new();

    private TestPki()
    {
        Ca = new DevelopmentCertificateAuthority("cluster.local");
        Server = Ca.IssueIstio("default", "server");
        Client = Ca.IssueIstio("default", "client");
        Other = Ca.IssueIstio("other", "intruder");
        ForeignCa = new DevelopmentCertificateAuthority("clusterset.local");
        Foreign = ForeignCa.IssueIstio("default", "client");
    }

    public DevelopmentCertificateAuthority Ca { get; }

    public Svid Server { get; }

    public Svid Client { get; }

    public Svid Other { get; }

    public DevelopmentCertificateAuthority ForeignCa { get; }

    /// <summary>An SVID from another trust domain (clusterset.local) with an otherwise valid shape.</summary>
    public Svid Foreign { get; }

    public InMemoryCertificateSource ServerSource() => new(Server, Ca.TrustBundle);
}
