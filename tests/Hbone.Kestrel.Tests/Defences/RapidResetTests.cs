// Contract row (docs/http2-server.md): more than 100 streams reset by the client within 10 s (the first 200 pass) → GOAWAY ENHANCE_YOUR_CALM, pending handler work cancelled (H2-01).
using System.Text;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class RapidResetTests
{
    private const string SlowAuthority = "127.0.0.1:9";
    private const string EchoAuthority = "127.0.0.1:7";
    private const int MaxStreams = 200;
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    /// <summary>Counts CONNECTs to <see cref="SlowAuthority"/> and holds them (never answering) until aborted; echoes the others.</summary>
    private sealed class CountingHandler
    {
        private int _invocations;
        private int _active;

        public int Invocations => Volatile.Read(ref _invocations);

        public int Active => Volatile.Read(ref _active);

        public async ValueTask HandleAsync(HboneConnectContext context)
        {
            if (context.Authority.Port != 9)
            {
                var tunnel = await context.AcceptAsync();
                try
                {
                    await tunnel.Input.CopyToAsync(tunnel.Output, context.Aborted);
                    await tunnel.CompleteWritesAsync();
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
                {
                }

                return;
            }

            Interlocked.Increment(ref _invocations);
            Interlocked.Increment(ref _active);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), context.Aborted);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    [Fact]
    [Trait("case", "H2-01")]
    public async Task H2_01_a_thousand_connects_each_reset_at_once_end_in_GOAWAY_ENHANCE_YOUR_CALM_with_bounded_handler_calls_and_other_clients_unaffected()
    {
        var handler = new CountingHandler();
        await using var server = await DefenceServer.StartAsync(handler: b => b.AddHandler(handler.HandleAsync));
        await using var attacker = await server.ConnectAsync();

        var written = 0;
        var pairs = Enumerable.Range(0, 1000).Select(i => Frames.Concat([Frames.Connect(1 + 2 * i, SlowAuthority), Frames.RstStream(1 + 2 * i, Http2ErrorCode.Cancel)])).ToArray();
        for (var i = 0; i < pairs.Length; i += 50)
        {
            if (attacker.FirstGoAway.Task.IsCompleted || !await attacker.TrySendAsync(Frames.Concat(pairs.Skip(i).Take(50))))
            {
                break;
            }

            written += 50;
        }

        await attacker.AssertConnectionErrorAsync(
            Http2ErrorCode.EnhanceYourCalm, TimeSpan.FromSeconds(10), context: () => $"after {written} pairs written; {handler.Invocations} handler calls");
        Assert.InRange(handler.Invocations, 0, 2 * MaxStreams);

        // Pending handler work is cancelled with the connection.
        var deadline = DateTime.UtcNow + Quick;
        while (handler.Active > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0, handler.Active);

        // Another client of the same server still gets its tunnel.
        await using var other = await server.ConnectAsync();
        await other.SendAsync(Frames.Connect(1, EchoAuthority));
        Assert.Equal(StreamAnswer.Status(200), await other.AnswerAsync(1, Quick));
        await other.SendAsync(Frames.Data(1, "still served"u8));
        Assert.Equal("still served", Encoding.ASCII.GetString(await other.StreamOf(1).ReadAsync(12, Quick)));
    }
}
