using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Hbone.Istio.Protos.Ca;
using static Hbone.Istio.Tests.ControlPlane.DevControlPlaneMesh;

namespace Hbone.Istio.Tests.ControlPlane;

public sealed class DevControlPlaneCaTests
{
    private static readonly Dictionary<string, string> Tokens = new() { ["token-a"] = "node-a", ["token-b"] = "node-b" };

    [Fact]
    public async Task CP_10_a_node_gets_a_certificate_for_a_pod_on_its_node_leaf_first_root_last()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml(), Tokens);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        IstioCertificateResponse response = await CreateAsync(bed, Request(Csr(key, ClientIdentity), ClientIdentity, validitySeconds: 3600), "token-a");

        Assert.Equal(2, response.CertChain.Count);
        Assert.Equal(bed.Ca.ExportRootPem(), response.CertChain[^1]);
        using var leaf = X509Certificate2.CreateFromPem(response.CertChain[0]);
        Assert.Equal([ClientIdentity], UriSans(leaf));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), leaf.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.InRange(leaf.NotAfter.ToUniversalTime(), DateTime.UtcNow.AddMinutes(59), DateTime.UtcNow.AddMinutes(61));
        using var chain = new X509Chain
        {
            ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, CustomTrustStore = { bed.Ca.RootCertificate } },
        };
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Fact]
    public async Task CP_11_a_node_asking_for_a_pod_on_another_node_is_permission_denied()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml(), Tokens);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<RpcException>(() => CreateAsync(bed, Request(Csr(key, EchoIdentity), EchoIdentity), "token-a"));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Equal($"node node-a runs no workload with identity {EchoIdentity}", error.Status.Detail);
    }

    [Theory]
    [InlineData("token-z")]
    [InlineData(null)]
    public async Task CP_12_an_unknown_or_missing_token_is_unauthenticated(string? token)
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml(), Tokens);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<RpcException>(() => CreateAsync(bed, Request(Csr(key, ClientIdentity), ClientIdentity), token));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task CP_13_a_garbage_csr_is_invalid_argument()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml(), Tokens);

        var error = await Assert.ThrowsAsync<RpcException>(() => CreateAsync(bed, Request("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", ClientIdentity), "token-a"));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task CP_14_with_tokens_a_request_without_impersonation_is_permission_denied()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml(), Tokens);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<RpcException>(() => CreateAsync(bed, Request(Csr(key, ClientIdentity), impersonated: null), "token-a"));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task CP_15_without_tokens_the_csr_names_the_identity_and_the_default_lifetime_is_24h()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        IstioCertificateResponse response = await CreateAsync(bed, Request(Csr(key, EchoIdentity), impersonated: null), token: null);

        using var leaf = X509Certificate2.CreateFromPem(response.CertChain[0]);
        Assert.Equal([EchoIdentity], UriSans(leaf));
        Assert.InRange(leaf.NotAfter.ToUniversalTime(), DateTime.UtcNow.AddHours(24).AddMinutes(-1), DateTime.UtcNow.AddHours(24).AddMinutes(1));
    }

    private static async Task<IstioCertificateResponse> CreateAsync(DevControlPlaneTestBed bed, IstioCertificateRequest request, string? token)
    {
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", $"Bearer {token}");
        }

        var client = new IstioCertificateService.IstioCertificateServiceClient(bed.Channel);
        return await client.CreateCertificateAsync(request, headers, DateTime.UtcNow + DevControlPlaneTestBed.Deadline);
    }

    private static IstioCertificateRequest Request(string csr, string? impersonated, long validitySeconds = 0)
    {
        var request = new IstioCertificateRequest { Csr = csr, ValidityDuration = validitySeconds };
        if (impersonated is not null)
        {
            request.Metadata = new Struct { Fields = { ["ImpersonatedIdentity"] = Value.ForString(impersonated) } };
        }

        return request;
    }

    /// <summary>A CSR as ztunnel makes it: P-256, empty subject, one critical URI SAN.</summary>
    private static string Csr(ECDsa key, string identity)
    {
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(identity));
        request.CertificateExtensions.Add(san.Build(critical: true));
        return request.CreateSigningRequestPem();
    }

    private static List<string> UriSans(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        var extension = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        var names = new System.Formats.Asn1.AsnReader(extension.RawData, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        var uriTag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6);
        while (names.HasData)
        {
            if (names.PeekTag() == uriTag)
            {
                uris.Add(names.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, uriTag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }

        return uris;
    }
}
