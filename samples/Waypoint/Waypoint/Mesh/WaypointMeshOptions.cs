using System.Collections;
using Hbone.Identity;
using Hbone.Istio;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Xds;

namespace Waypoint.Mesh;

/// <summary>
/// How the waypoint joins a mesh: istiod's xDS and CA endpoints, how to trust and authenticate to them, and the
/// waypoint's own identity. Read from the environment variables ztunnel reads, with the same meanings.
/// </summary>
public sealed class WaypointMeshOptions
{
    /// <summary>istiod's xDS (<c>XDS_ADDRESS</c>, <c>XDS_ROOT_CA</c>, <c>ALT_XDS_HOSTNAME</c>, <c>XDS_HEADER_*</c>).</summary>
    public required IstioConnectionOptions Xds { get; init; }

    /// <summary>istiod's CA (<c>CA_ADDRESS</c>, else the xDS address; <c>CA_ROOT_CA</c>, <c>ALT_CA_HOSTNAME</c>, <c>CA_HEADER_*</c>).</summary>
    public required IstioConnectionOptions Ca { get; init; }

    /// <summary>The identity the waypoint asks the CA for: <c>spiffe://TRUST_DOMAIN/ns/POD_NAMESPACE/sa/SERVICE_ACCOUNT</c>.</summary>
    public required SpiffeId Identity { get; init; }

    /// <summary>The xDS node (<c>POD_NAME</c>, <c>POD_NAMESPACE</c>, <c>INSTANCE_IP</c>, <c>CLUSTER_ID</c>, <c>ISTIO_META_*</c>), id prefix <c>waypoint</c>.</summary>
    public required XdsNode Node { get; init; }

    /// <summary>
    /// The options the variables describe, or null when <c>XDS_ADDRESS</c> is unset: the waypoint then reads its config file.
    /// </summary>
    /// <exception cref="WaypointConfigException">A variable is missing or bad; the message names it.</exception>
    public static WaypointMeshOptions? FromEnvironment(IDictionary env)
    {
        ArgumentNullException.ThrowIfNull(env);
        string? Get(string name) => env[name] is string { Length: > 0 } value ? value : null;
        if (Url(Get("XDS_ADDRESS"), "XDS_ADDRESS") is not { } xds)
        {
            return null;
        }

        Uri ca = Url(Get("CA_ADDRESS"), "CA_ADDRESS") ?? xds;
        XdsNode node = XdsNode.FromEnvironment(env);
        node.IdPrefix = "waypoint";
        if (Get("POD_NAMESPACE") is not { } ns || Get("SERVICE_ACCOUNT") is not { } account)
        {
            throw new WaypointConfigException("POD_NAMESPACE and SERVICE_ACCOUNT name the waypoint's identity: set both");
        }

        // ztunnel's rule: AUTH_TOKEN names a file when it looks like a path (re-read on every call), else it is the token.
        string? token = Get("AUTH_TOKEN");
        string? tokenPath = token is not null
            ? (token.Contains('/', StringComparison.Ordinal) ? token : null)
            : (File.Exists(IstioConnectionOptions.DefaultTokenPath) ? IstioConnectionOptions.DefaultTokenPath : null);
        IstioConnectionOptions Connection(Uri address, string prefix) => WithHeadersValidated(prefix, new IstioConnectionOptions
        {
            Address = address,
            RootCertificate = Get(prefix + "_ROOT_CA") ?? IstioConnectionOptions.DefaultRootCertificatePath,
            AltHostname = Get("ALT_" + prefix + "_HOSTNAME"),
            TokenPath = tokenPath,
            StaticToken = tokenPath is null ? token : null,
            ClusterId = node.ClusterId,
        }, env);

        return new WaypointMeshOptions
        {
            Xds = Connection(xds, "XDS"),
            Ca = Connection(ca, "CA"),
            Identity = IdentityOf(Get("TRUST_DOMAIN") ?? "cluster.local", ns, account),
            Node = node,
        };
    }

    // As ztunnel reads XDS_ADDRESS/CA_ADDRESS: no scheme (Istio's chart writes istiod.istio-system.svc:15012) means https.
    private static Uri? Url(string? text, string name)
    {
        if (text is null)
        {
            return null;
        }

        string url = text.Contains("://", StringComparison.Ordinal) ? text : "https://" + text;
        return Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) && uri.Host.Length > 0
            ? uri
            : throw new WaypointConfigException($"{name}: '{text}' is not an https:// URL (e.g. https://istiod.istio-system.svc:15012)");
    }

    private static IstioConnectionOptions WithHeadersValidated(string prefix, IstioConnectionOptions options, IDictionary env)
    {
        string headerPrefix = prefix + "_HEADER_";
        foreach (DictionaryEntry entry in env)
        {
            if (entry.Key is string key && key.Length > headerPrefix.Length && key.StartsWith(headerPrefix, StringComparison.Ordinal) && entry.Value is string value)
            {
                options.Headers[key[headerPrefix.Length..]] = value;
            }
        }

        try
        {
            options.Validate();
            return options;
        }
        catch (IstioException ex)
        {
            throw new WaypointConfigException($"{prefix}_*: {ex.Message}", ex);
        }
    }

    private static SpiffeId IdentityOf(string trustDomain, string ns, string account)
    {
        try
        {
            return SpiffeId.ForIstio(trustDomain, ns, account);
        }
        catch (SpiffeIdException ex)
        {
            throw new WaypointConfigException($"TRUST_DOMAIN, POD_NAMESPACE, SERVICE_ACCOUNT: not a SPIFFE ID ({ex.Message})", ex);
        }
    }
}
