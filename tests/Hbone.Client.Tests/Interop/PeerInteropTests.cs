using System.Security.Cryptography;
using Hbone.Client;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;

namespace Hbone.Client.Tests.Interop;

/// <summary>Our client against HBONE servers we did not write: python3-h2 and Node's http2 (nghttp2).</summary>
public sealed class PeerInteropTests
{
    private const string PythonBaggage = "k8s.cluster.name=peer-cluster,k8s.namespace.name=peer,k8s.deployment.name=h2-hbone-server,service.name=h2-hbone-server,service.version=v1";
    private const string NodeBaggage = "k8s.cluster.name=peer-cluster,k8s.namespace.name=peer,k8s.deployment.name=node-hbone-server,service.name=node-hbone-server,service.version=v1";

    [Theory]
    [InlineData(PeerKind.Python)]
    [InlineData(PeerKind.Node)]
    [Trait("case", "CON-14")]
    public async Task CON14_Interop_2MB_each_way_through_an_echo_upstream_is_byte_exact(PeerKind kind)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(kind, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        var payload = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        var echoed = await Tunnels.RoundTripAsync(tunnel, payload, TimeSpan.FromSeconds(60));

        Assert.Equal(payload.Length, echoed.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        Assert.Equal(payload.Length, tunnel.BytesSent);
        Assert.Equal(payload.Length, tunnel.BytesReceived);
        var line = await peer.WaitForLineAsync(l => l.StartsWith("stream ", StringComparison.Ordinal), ClientFixture.Deadline);
        Assert.Contains("status=200", line);
        Assert.Contains($"authority={upstream.Authority}", line);
        Assert.Contains($"to_upstream={payload.Length} to_client={payload.Length}", line);
    }

    [Theory]
    [InlineData(PeerKind.Python)]
    [InlineData(PeerKind.Node)]
    [Trait("case", "H2-07")]
    public async Task H207_Interop_response_headers_with_Huffman_and_dynamic_table_references_decode_on_every_stream(PeerKind kind)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(kind, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient();
        var (baggage, serverName) = kind == PeerKind.Python ? (PythonBaggage, "h2-hbone-peer") : (NodeBaggage, "node-hbone-peer");

        // From the second stream on the peer's HPACK encoder refers to its dynamic table for the repeated fields.
        var connections = new HashSet<Hbone.Http2.Http2ClientConnection>();
        for (var i = 1; i <= 6; i++)
        {
            await using var tunnel = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
            connections.Add(Tunnels.ConnectionOf(tunnel));
            Assert.Equal(baggage, Header(tunnel, "baggage"));
            Assert.Equal(serverName, Header(tunnel, "server"));
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(tunnel, "x-peer-stream-count"));
            Assert.StartsWith("upstream-connect;dur=", Header(tunnel, "server-timing"));
            Assert.Equal([(byte)i], await Tunnels.RoundTripAsync(tunnel, new[] { (byte)i }));
        }

        Assert.Single(connections);
        Assert.Equal(1, peer.OpenedConnections);
    }

    [Theory]
    [InlineData(PeerKind.Python, 400)]
    [InlineData(PeerKind.Python, 503)]
    [InlineData(PeerKind.Node, 400)]
    [InlineData(PeerKind.Node, 503)]
    [Trait("case", "CON-13")]
    [Trait("case", "CON-04")]
    public async Task CON13_CON04_Interop_peer_refusal_surfaces_as_HboneConnectException_with_the_status(PeerKind kind, int status)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(kind, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient();

        // 400: an authority the peer cannot parse (":0", what an uninitialised HboneAuthority formats as);
        // 503: a target port nothing listens on.
        var request = new HboneRequest
        {
            Destination = peer.EndPoint,
            Authority = status == 400 ? default : HboneAuthority.Parse("127.0.0.1:1"),
            ExpectedIdentities = [ClientFixture.ServerId],
        };
        var error = await Assert.ThrowsAsync<HboneConnectException>(() => client.OpenAsync(request));

        Assert.Equal(status, error.ResponseStatus);
        Assert.Equal(HboneErrorReason.ConnectRefused, error.Reason);
        var line = await peer.WaitForLineAsync(l => l.StartsWith("stream ", StringComparison.Ordinal), ClientFixture.Deadline);
        Assert.Contains($"status={status}", line);

        // The refusal is a stream matter: the pooled connection carries the next tunnel.
        await using var tunnel = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        Assert.Equal("after"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "after"u8.ToArray()));
        Assert.Equal(1, peer.OpenedConnections);
    }

    [Theory]
    [Trait("case", "CON-14")]
    [InlineData(16 * 1024 * 1024, 4 * 1024 * 1024)]
    [InlineData(65535, 65535)] // every byte waits for window: found the Node peer's early RST_STREAM(NO_ERROR)
    public async Task CON14_Node_peer_40_concurrent_streams_random_sizes_both_directions_byte_exact(int connectionWindow, int streamWindow)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(PeerKind.Node, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.InitialStreamWindowSize = streamWindow;
            o.InitialConnectionWindowSize = connectionWindow;
        });

        var results = await ConcurrentStreams.RunAsync(client, ClientFixture.Request(peer.EndPoint, upstream.EndPoint), streams: 40, maxSize: 1024 * 1024, seed: 1401, TimeSpan.FromSeconds(120));

        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(peer.EndPoint)));
        Assert.Equal(1, peer.OpenedConnections);
        ConcurrentStreams.AssertExact(results);
    }

    private static string? Header(HboneStream tunnel, string name) =>
        tunnel.ResponseHeaders.SingleOrDefault(h => h.Key == name).Value;
}
