using System.Formats.Asn1;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Tests.Infrastructure;

namespace Hbone.Istio.Tests.Ca;

public sealed class IstioCaClientTests : IAsyncLifetime
{
    private static readonly SpiffeId Pod = SpiffeId.ForIstio("cluster.local", "default", "reviews");

    private readonly string _dir = Directory.CreateTempSubdirectory("hbone-ca-").FullName;
    private readonly DevelopmentCertificateAuthority _ca = new();
    private ScriptedCaServer _server = null!;

    private string TokenPath => Path.Combine(_dir, "istio-token");

    public async Task InitializeAsync()
    {
        _server = await ScriptedCaServer.StartAsync(_ca);
        _server.CallerIdentity = Pod;
        File.WriteAllText(TokenPath, "token-1\n");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task CA_01_issued_certificate_carries_the_requested_identity_and_the_key_of_the_csr()
    {
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel, TimeSpan.FromHours(1));

        IssuedCertificate issued = await client.CreateCertificateAsync(Pod, CancellationToken.None);

        Assert.Equal(Pod, issued.Svid.Id);
        Assert.True(issued.Svid.Certificate.HasPrivateKey);
        Assert.Empty(issued.Svid.Intermediates);
        Assert.Equal("cluster.local", issued.Roots.TrustDomain);
        Assert.Equal(_ca.RootCertificate.Thumbprint, Assert.Single(issued.Roots.Roots).Thumbprint);
        Assert.Equal(_ca.RootCertificate.Thumbprint, Assert.Single(TrustBundle.FromPem("cluster.local", issued.RootCertificatesPem).Roots).Thumbprint);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", issued.CertificateChainPem, StringComparison.Ordinal);

        ScriptedCaServer.RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(3600, recorded.Request.ValidityDuration);
        Assert.Null(recorded.Request.Metadata);
        CertificateRequest csr = CertificateRequest.LoadSigningRequestPem(recorded.Request.Csr, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        Assert.Equal("", csr.SubjectName.Name);
        X509Extension san = Assert.Single(csr.CertificateExtensions, e => e.Oid!.Value == "2.5.29.17");
        Assert.True(san.Critical);
        Assert.Equal([Pod.ToString()], ReadUris(san.RawData));
        Assert.Equal(csr.PublicKey.EncodedKeyValue.RawData, issued.Svid.Certificate.PublicKey.EncodedKeyValue.RawData);

        // The private key held is the CSR's: what it signs verifies with the CSR's public key.
        using ECDsa privateKey = issued.Svid.Certificate.GetECDsaPrivateKey()!;
        using ECDsa csrKey = csr.PublicKey.GetECDsaPublicKey()!;
        byte[] signature = privateKey.SignData("proof"u8, HashAlgorithmName.SHA256);
        Assert.True(csrKey.VerifyData("proof"u8, signature, HashAlgorithmName.SHA256));
        Assert.Equal(256, privateKey.KeySize);
    }

    [Fact]
    public async Task CA_02_each_call_sends_the_token_read_afresh_the_cluster_id_and_extra_headers()
    {
        IstioConnectionOptions options = Options();
        options.ClusterId = "cluster-a";
        options.Headers["X-Extra-Header"] = "extra";
        using ControlPlaneChannel channel = new(options);
        IstioCaClient client = new(channel);

        await client.CreateCertificateAsync(Pod, CancellationToken.None);
        File.WriteAllText(TokenPath, "token-2");
        await client.CreateCertificateAsync(Pod, CancellationToken.None);

        IReadOnlyList<ScriptedCaServer.RecordedRequest> requests = _server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal("Bearer token-1", requests[0].Headers["authorization"]);
        Assert.Equal("Bearer token-2", requests[1].Headers["authorization"]);
        Assert.All(requests, r => Assert.Equal("cluster-a", r.Headers["clusterid"]));
        Assert.All(requests, r => Assert.Equal("extra", r.Headers["x-extra-header"]));
        Assert.All(requests, r => Assert.Equal(86400, r.Request.ValidityDuration));
    }

    [Fact]
    public async Task CA_03_a_node_proxy_impersonates_its_pod_identity()
    {
        _server.CallerIdentity = SpiffeId.ForIstio("cluster.local", "istio-system", "ztunnel");
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel, impersonate: true);

        IssuedCertificate issued = await client.CreateCertificateAsync(Pod, CancellationToken.None);

        Assert.Equal(Pod, issued.Svid.Id);
        var metadata = Assert.Single(_server.Requests).Request.Metadata;
        Assert.Equal(Pod.ToString(), Assert.Single(metadata.Fields, f => f.Key == "ImpersonatedIdentity").Value.StringValue);
        Assert.Single(metadata.Fields);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CA_04_a_missing_or_empty_token_fails_before_any_request(bool exists)
    {
        if (exists)
        {
            File.WriteAllText(TokenPath, " \n");
        }
        else
        {
            File.Delete(TokenPath);
        }

        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.TokenUnavailable, ex.Reason);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task CA_05_an_unreachable_ca_is_control_plane_unavailable()
    {
        using TcpListener listener = new(IPAddress.Loopback, 0);
        listener.Start();
        int closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        IstioConnectionOptions options = Options();
        options.Address = new Uri($"https://127.0.0.1:{closedPort}");
        using ControlPlaneChannel channel = new(options);
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.ControlPlaneUnavailable, ex.Reason);
        Assert.Equal(StatusCode.Unavailable, Assert.IsType<RpcException>(ex.InnerException).StatusCode);
        Assert.Contains("Unavailable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CA_06_a_ca_failure_status_is_control_plane_unavailable_with_the_status()
    {
        _server.Behavior = ScriptedCaBehavior.Unavailable;
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.ControlPlaneUnavailable, ex.Reason);
        Assert.Contains("scripted outage", ex.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task CA_07_a_leaf_with_another_identity_is_identity_mismatch()
    {
        _server.Behavior = ScriptedCaBehavior.OtherIdentity;
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.IdentityMismatch, ex.Reason);
        Assert.Contains(_server.OtherIdentity.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CA_08_a_leaf_that_does_not_chain_to_the_returned_root_is_untrusted()
    {
        _server.Behavior = ScriptedCaBehavior.OtherCa;
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.UntrustedCertificateChain, ex.Reason);
    }

    [Theory]
    [InlineData(ScriptedCaBehavior.Empty)]
    [InlineData(ScriptedCaBehavior.Garbage)]
    public async Task CA_09_an_empty_or_garbage_chain_is_an_invalid_response(ScriptedCaBehavior behavior)
    {
        _server.Behavior = behavior;
        using ControlPlaneChannel channel = CreateChannel();
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.InvalidCertificateResponse, ex.Reason);
    }

    [Fact]
    public async Task CA_10_a_ca_whose_tls_certificate_is_not_from_the_configured_root_is_unavailable()
    {
        using DevelopmentCertificateAuthority impostor = new();
        await using ScriptedCaServer server = await ScriptedCaServer.StartAsync(_ca, impostor.IssueServerCertificate(["istiod.istio-system.svc"], [IPAddress.Loopback]));
        IstioConnectionOptions options = Options();
        options.Address = server.Address;
        using ControlPlaneChannel channel = new(options);
        IstioCaClient client = new(channel);

        IstioException ex = await Assert.ThrowsAsync<IstioException>(() => client.CreateCertificateAsync(Pod, CancellationToken.None));
        Assert.Equal(IstioErrorReason.ControlPlaneUnavailable, ex.Reason);
        Assert.Empty(server.Requests);
    }

    private static List<string> ReadUris(byte[] sanValue)
    {
        List<string> uris = [];
        AsnReader names = new AsnReader(sanValue, AsnEncodingRules.DER).ReadSequence();
        while (names.HasData)
        {
            Asn1Tag tag = names.PeekTag();
            if (tag == new Asn1Tag(TagClass.ContextSpecific, 6))
            {
                uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, tag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }

        return uris;
    }

    private ControlPlaneChannel CreateChannel() => new(Options());

    private IstioConnectionOptions Options() => new()
    {
        Address = _server.Address,
        RootCertificate = _server.WriteRootPem(Path.Combine(_dir, "root-cert.pem")),
        TokenPath = TokenPath,
    };
}
