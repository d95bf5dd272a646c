using System.Net;

namespace DevControlPlane.Hosting;

/// <summary>Everything the command line sets.</summary>
public sealed class DevControlPlaneOptions
{
    /// <summary>Where to serve gRPC over TLS (port 0 picks a free port).</summary>
    public List<IPEndPoint> Listen { get; } = [];

    /// <summary>The mesh in ztunnel's local config YAML format; watched for changes.</summary>
    public required string ConfigPath { get; init; }

    /// <summary>The mesh CA as <c>hbone certs</c> writes it (ca.pem, ca.key).</summary>
    public required string CaCertPath { get; init; }

    public required string CaKeyPath { get; init; }

    public string TrustDomain { get; init; } = "cluster.local";

    /// <summary>Bearer token -> the node it authenticates; empty means no authentication (development mode).</summary>
    public Dictionary<string, string> NodeByToken { get; } = new(StringComparer.Ordinal);

    /// <summary>The DNS name on the serving certificate (clients that dial another name set ALT_XDS_HOSTNAME/ALT_CA_HOSTNAME).</summary>
    public string ServerName { get; init; } = "istiod.istio-system.svc";

    /// <summary>The longest workload certificate issued, whatever the request asks for.</summary>
    public TimeSpan CertTtlMax { get; init; } = TimeSpan.FromDays(90);
}
