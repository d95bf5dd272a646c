using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Protocol;

/// <summary>
/// TLS at the HBONE port: TLS 1.3 only, a client SVID of our trust domain required (H2-19, ADV-01, ID-10, ID-11),
/// and the client-side check of the server's identity (ID-08).
/// </summary>
public sealed class TlsHandshakeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    [Trait("case", "H2-19")]
    public async Task H2_19_tls12_client_is_refused_at_the_handshake()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        await Assert.ThrowsAsync<AuthenticationException>(() =>
            RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false, protocols: SslProtocols.Tls12).WaitAsync(Deadline));

        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "ADV-01")]
    public async Task ADV_01_client_svid_from_another_trust_domain_is_rejected_on_first_read()
    {
        await AssertClientRejectedOnFirstReadAsync(TestPki.Shared.Foreign);
    }

    [Fact]
    [Trait("case", "ID-10")]
    public async Task ID_10_no_client_certificate_is_rejected_on_first_read()
    {
        await AssertClientRejectedOnFirstReadAsync(client: null);
    }

    [Fact]
    [Trait("case", "ID-10")]
    public async Task ID_10_client_certificate_from_an_unrelated_ca_of_the_same_trust_domain_is_rejected_on_first_read()
    {
        // Same trust domain and SPIFFE ID as the real client, but another root: only the chain is wrong.
        using var unrelated = new DevelopmentCertificateAuthority("cluster.local");
        using var svid = unrelated.IssueIstio("default", "client");
        await AssertClientRejectedOnFirstReadAsync(svid);
    }

    /// <summary>
    /// With TLS 1.3 the client sends its certificate in its last flight and considers the handshake done: the
    /// server's verdict only arrives with the first read. This test makes that order explicit.
    /// </summary>
    [Fact]
    [Trait("case", "ID-11")]
    public async Task ID_11_rejected_client_cert_is_observed_on_first_read_not_on_handshake()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        // 1. The handshake itself succeeds on the client side.
        var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Foreign, sendPreface: false).WaitAsync(Deadline);
        await using var _ = connection;
        Assert.Equal(SslProtocols.Tls13, connection.Stream.SslProtocol);
        Assert.True(connection.Stream.IsAuthenticated);

        // 2. The first read fails: an alert (AuthenticationException / IOException) or EOF, never a frame.
        var outcome = await FirstReadAsync(connection.Stream);
        Assert.True(outcome is "alert" or "eof", $"first read gave {outcome}");
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "ID-08")]
    public async Task ID_08_client_refuses_a_server_svid_outside_the_expected_identities_before_sending_a_byte()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        var expected = new HashSet<string> { "spiffe://cluster.local/ns/default/sa/echo" };

        var (stream, validated) = await ConnectValidatingServerAsync(server.EndPoint);
        await using (stream)
        {
            var error = await Assert.ThrowsAsync<AuthenticationException>(() => stream.AuthenticateAsClientAsync(ClientOptions(expected, validated)).WaitAsync(Deadline));
            Assert.NotNull(error);
        }

        // The chain and SVID were valid: only the identity set refused it.
        Assert.Equal("spiffe://cluster.local/ns/default/sa/server", Assert.Single(validated));
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "ID-08")]
    public async Task ID_08_client_accepts_the_server_svid_in_the_expected_identities()
    {
        await using var server = await HboneTestServer.StartAsync();
        var expected = new HashSet<string> { "spiffe://cluster.local/ns/default/sa/echo", "spiffe://cluster.local/ns/default/sa/server" };

        var (stream, validated) = await ConnectValidatingServerAsync(server.EndPoint);
        await using (stream)
        {
            await stream.AuthenticateAsClientAsync(ClientOptions(expected, validated)).WaitAsync(Deadline);
            Assert.Equal(SslApplicationProtocol.Http2, stream.NegotiatedApplicationProtocol);

            // Application bytes flow: the server answers the preface with its SETTINGS.
            await stream.WriteAsync(RawHttp2Connection.Preface);
            await stream.WriteAsync(new byte[] { 0, 0, 0, FrameType.Settings, 0, 0, 0, 0, 0 });
            var header = new byte[9];
            await stream.ReadExactlyAsync(header).AsTask().WaitAsync(Deadline);
            Assert.Equal(FrameType.Settings, header[3]);
        }

        Assert.Equal("spiffe://cluster.local/ns/default/sa/server", Assert.Single(validated));
    }

    private static async Task<(SslStream Stream, List<string> Validated)> ConnectValidatingServerAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server).WaitAsync(Deadline);
        return (new SslStream(new NetworkStream(socket, ownsSocket: true)), []);
    }

    private static SslClientAuthenticationOptions ClientOptions(HashSet<string> expected, List<string> validated)
    {
        var validator = new SvidValidator(TestPki.Shared.Ca.TrustBundle);
        var client = TestPki.Shared.Client;
        return new SslClientAuthenticationOptions
        {
            TargetHost = "hbone",
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, client.Intermediates, offline: true),
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is not X509Certificate2 leaf
                    || !validator.TryValidate(leaf, chain?.ChainPolicy.ExtraStore, SvidRole.Server, out var id, out _))
                {
                    return false;
                }

                validated.Add(id.ToString());
                return expected.Contains(id.ToString());
            },
        };
    }

    private static async Task AssertClientRejectedOnFirstReadAsync(Svid? client)
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        string outcome;
        try
        {
            await using var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, client, sendPreface: false).WaitAsync(Deadline);
            outcome = await FirstReadAsync(connection.Stream);
        }
        catch (AuthenticationException)
        {
            outcome = "handshake";
        }

        Assert.True(outcome is "alert" or "eof" or "handshake", $"a rejected client got {outcome}");
        Assert.Equal(0, upstream.AcceptPending());
        var log = server.TryNextLog();
        Assert.True(log is null, $"unexpected access-log entry {log}");
    }

    /// <summary>"alert" (AuthenticationException / IOException), "eof", or "data" when the server sent bytes.</summary>
    private static async Task<string> FirstReadAsync(SslStream stream)
    {
        try
        {
            // Send the preface as an honest client would; the write may already fail.
            await stream.WriteAsync(RawHttp2Connection.Preface);
            await stream.FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            return "alert";
        }

        try
        {
            var read = await stream.ReadAsync(new byte[64]).AsTask().WaitAsync(Deadline);
            return read == 0 ? "eof" : "data";
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            return "alert";
        }
    }
}
