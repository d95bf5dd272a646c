// Contract row (docs/http2-server.md, Drain): on host stop, GOAWAY NO_ERROR with the highest processed client stream id, later streams RST_STREAM REFUSED_STREAM, open tunnels run, the connection closes when the last one ends (FT-08).
using System.Diagnostics;
using System.Text;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class DrainContractTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("case", "FT-08")]
    public async Task FT_08_stopping_sends_GOAWAY_NO_ERROR_naming_the_open_stream_refuses_new_ones_and_closes_when_the_tunnel_ends()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        // A drain deadline far away: the connection must close because its last tunnel ended, not because of it.
        await using var server = await DefenceServer.StartAsync(o => o.DrainTimeout = TimeSpan.FromSeconds(10));
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));

        var stopping = server.App.StopAsync(CancellationToken.None);
        var goAway = await client.GoAwayWithinAsync(Quick);
        Assert.True(goAway is not null, "no GOAWAY after StopAsync");
        Assert.Equal(Http2ErrorCode.NoError, (Http2ErrorCode)goAway.ErrorCode);
        Assert.Equal(1, H2Client.LastStreamId(goAway));

        var accepted = upstream.Accepted;
        await client.SendAsync(Frames.Connect(3, upstream.Authority));
        Assert.Equal(StreamAnswer.Reset(Http2ErrorCode.RefusedStream), await client.AnswerAsync(3, Quick));
        Assert.Equal(accepted, upstream.Accepted);

        await client.SendAsync(Frames.Data(1, "during drain"u8));
        Assert.Equal("during drain", Encoding.ASCII.GetString(await client.StreamOf(1).ReadAsync(12, Quick)));

        // The tunnel ends (our END_STREAM, the echo's FIN, the server's END_STREAM); then the connection closes.
        var ended = Stopwatch.StartNew();
        await client.SendAsync(Frames.Data(1, ReadOnlySpan<byte>.Empty, endStream: true));
        await Task.WhenAny(client.StreamOf(1).EndStream.Task, Task.Delay(Quick));
        Assert.True(client.StreamOf(1).EndStream.Task.IsCompleted, "the tunnel did not end");
        Assert.True(await client.ClosedWithinAsync(TimeSpan.FromSeconds(3)), "the connection must close once its last tunnel ended");
        Assert.True(ended.Elapsed < TimeSpan.FromSeconds(8), "closed by the drain deadline, not by the end of the last tunnel");
        await stopping.WaitAsync(Quick);
    }
}
