namespace Hbone.Istio.ControlPlane;

/// <summary>
/// How to reach one control-plane endpoint (istiod's xDS or CA on 15012): the address, the roots its TLS certificate must
/// chain to, the bearer token and the extra headers. Defaults are ztunnel's.
/// </summary>
public sealed class IstioConnectionOptions
{
    /// <summary>The default token path, a projected service-account token with audience <c>istio-ca</c>.</summary>
    public const string DefaultTokenPath = "./var/run/secrets/tokens/istio-token";

    /// <summary>The default mesh root certificate path.</summary>
    public const string DefaultRootCertificatePath = "./var/run/secrets/istio/root-cert.pem";

    /// <summary>The endpoint, e.g. <c>https://istiod.istio-system.svc:15012</c>.</summary>
    public Uri Address { get; set; } = new("https://istiod.istio-system.svc:15012");

    /// <summary>
    /// The roots the server certificate must chain to: a PEM file path (re-read when it changes), the word <c>SYSTEM</c>
    /// for the operating system's roots, or inline PEM. Default <see cref="DefaultRootCertificatePath"/>.
    /// </summary>
    public string RootCertificate { get; set; } = DefaultRootCertificatePath;

    /// <summary>The name the server certificate must carry, when it is not the host of <see cref="Address"/> (ztunnel's <c>ALT_XDS_HOSTNAME</c>/<c>ALT_CA_HOSTNAME</c>).</summary>
    public string? AltHostname { get; set; }

    /// <summary>The bearer token: read from this file on every call (tokens rotate). Null with no <see cref="StaticToken"/>: no <c>authorization</c> header.</summary>
    public string? TokenPath { get; set; }

    /// <summary>A fixed bearer token, used when <see cref="TokenPath"/> is null.</summary>
    public string? StaticToken { get; set; }

    /// <summary>Sent as the <c>clusterid</c> header (ztunnel's <c>ISTIO_META_CLUSTER_ID</c>/<c>CLUSTER_ID</c>).</summary>
    public string ClusterId { get; set; } = "Kubernetes";

    /// <summary>Extra headers on every call (ztunnel's <c>XDS_HEADER_*</c>/<c>CA_HEADER_*</c>, prefix stripped).</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Throws when the options cannot work.</summary>
    /// <exception cref="IstioException">The address is not absolute http(s), the cluster id or root is empty, or a header is not valid gRPC metadata.</exception>
    public void Validate()
    {
        if (!Address.IsAbsoluteUri || (Address.Scheme != Uri.UriSchemeHttps && Address.Scheme != Uri.UriSchemeHttp))
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"control plane address '{Address}' is not an absolute https:// URL");
        }

        if (string.IsNullOrWhiteSpace(ClusterId))
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, "the cluster id is empty");
        }

        if (string.IsNullOrWhiteSpace(RootCertificate))
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, "the root certificate is empty: give a PEM file path, SYSTEM, or inline PEM");
        }

        foreach (KeyValuePair<string, string> header in Headers)
        {
            try
            {
                _ = new Grpc.Core.Metadata.Entry(header.Key.ToLowerInvariant(), header.Value);
            }
            catch (ArgumentException ex)
            {
                throw new IstioException(IstioErrorReason.InvalidOptions, $"header '{header.Key}' cannot be sent: {ex.Message}", ex);
            }
        }
    }
}
