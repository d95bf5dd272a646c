using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DevControlPlane.Config;
using DevControlPlane.Hosting;
using Grpc.Core;
using Hbone.Identity;
using Hbone.Istio.Protos.Ca;
using Microsoft.Extensions.Logging;

namespace DevControlPlane.Ca;

/// <summary>
/// istiod's CA: signs a CSR for the identity the caller may have. With node tokens, a node proxy gets certificates only
/// for identities of workloads placed on its node (named in metadata <c>ImpersonatedIdentity</c>); without tokens
/// (development mode) any identity of the trust domain is signed.
/// </summary>
public sealed partial class MeshCertificateService(
    DevelopmentCertificateAuthority ca, NodeTokens tokens, MeshState mesh, DevControlPlaneOptions options, ILogger<MeshCertificateService> logger)
    : IstioCertificateService.IstioCertificateServiceBase
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(24);
    private const string ImpersonatedIdentityKey = "ImpersonatedIdentity";

    public override Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
    {
        string? node = null;
        if (!tokens.Disabled)
        {
            node = tokens.Authenticate(context.RequestHeaders.GetValue("authorization"))
                ?? throw Fail(StatusCode.Unauthenticated, "missing or unknown bearer token");
        }

        string? csrUri;
        try
        {
            csrUri = CsrIdentity.ReadUriSan(request.Csr);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw Fail(StatusCode.InvalidArgument, $"not a valid certificate signing request: {e.Message}");
        }

        SpiffeId identity = Authorize(request, node, csrUri);
        TimeSpan lifetime = Lifetime(request.ValidityDuration);
        using X509Certificate2 leaf = ca.SignRequest(request.Csr, identity, lifetime);
        LogIssued(identity.ToString(), node ?? "(no auth)", leaf.SerialNumber, lifetime);
        return Task.FromResult(new IstioCertificateResponse { CertChain = { leaf.ExportCertificatePem() + "\n", ca.ExportRootPem() } });
    }

    private SpiffeId Authorize(IstioCertificateRequest request, string? node, string? csrUri)
    {
        string? asked = request.Metadata is { } metadata && metadata.Fields.TryGetValue(ImpersonatedIdentityKey, out var value) ? value.StringValue : null;
        if (string.IsNullOrEmpty(asked))
        {
            // Without impersonation the CSR names the identity; only development mode trusts that.
            asked = node is null ? csrUri : throw Fail(StatusCode.PermissionDenied, $"node {node} must name the identity it asks for in metadata {ImpersonatedIdentityKey}");
        }

        if (!SpiffeId.TryParse(asked, out SpiffeId? identity, out _))
        {
            throw Fail(StatusCode.InvalidArgument, asked is null ? "the CSR has no URI SAN and no identity was named" : $"'{asked}' is not a SPIFFE ID");
        }

        if (!identity.IsMemberOf(ca.TrustDomain) || !identity.TryGetIstioIdentity(out _))
        {
            throw Fail(StatusCode.PermissionDenied, $"{identity} is not a workload identity of trust domain {ca.TrustDomain}");
        }

        if (node is not null && !mesh.Current.RunsOnNode(node, identity.ToString()))
        {
            throw Fail(StatusCode.PermissionDenied, $"node {node} runs no workload with identity {identity}");
        }

        return identity;
    }

    private TimeSpan Lifetime(long seconds) => seconds switch
    {
        < 0 => throw Fail(StatusCode.InvalidArgument, $"validity_duration {seconds} is negative"),
        0 => DefaultLifetime < options.CertTtlMax ? DefaultLifetime : options.CertTtlMax,
        _ => TimeSpan.FromSeconds(Math.Min(seconds, (long)options.CertTtlMax.TotalSeconds)),
    };

    private RpcException Fail(StatusCode code, string message)
    {
        LogRefused(code, message);
        return new RpcException(new Status(code, message));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ca: issued identity={Identity} node={Node} serial={Serial} lifetime={Lifetime}")]
    private partial void LogIssued(string identity, string node, string serial, TimeSpan lifetime);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ca: refused ({Code}): {Reason}")]
    private partial void LogRefused(StatusCode code, string reason);
}
