using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// The HBONE server against curl as an HTTPS-proxy client. The curl on Debian 12 (7.88.1) has no
/// <c>--proxy-http2</c> (added in curl 8.1): it speaks HTTP/1.1 CONNECT to an HTTPS proxy, without ALPN, so it cannot
/// tunnel through an HBONE server. What it can show is the server's answer to that: the HTTP/1.1 bytes are not an
/// HTTP/2 preface, the connection is closed with no response and nothing is dialled (docs/http2-server.md, H2-18).
/// </summary>
public sealed class CurlInteropTests : IDisposable
{
    private const string Curl = "/usr/bin/curl";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly ForeignPeer _peer = new();

    public void Dispose() => _peer.Dispose();

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_curl_http1_connect_through_an_https_proxy_is_closed_without_a_response_or_a_dial()
    {
        ForeignPeer.Require(Curl, "curl");
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        // --proxy-insecure: the SVID has a URI SAN only, no name curl could match (the chain is still offered our CA).
        var result = await ForeignPeer.RunAsync(Curl,
            ["-sS", "-v", "--max-time", "30", "-p", "--proxy", $"https://{server.EndPoint}", "--proxy-cert", _peer.ClientCertificate,
             "--proxy-key", _peer.ClientKey, "--proxy-cacert", _peer.Ca, "--proxy-insecure", $"http://{upstream.Authority}/"],
            Deadline);

        Assert.True(result.ExitCode != 0, result.ToString());
        Assert.Contains($"> CONNECT {upstream.Authority} HTTP/1.1", result.Stderr);
        Assert.DoesNotContain("< HTTP/", result.Stderr);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }
}
