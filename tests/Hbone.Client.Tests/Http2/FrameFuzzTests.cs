using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;
using Xunit.Abstractions;

namespace Hbone.Client.Tests.Http2;

/// <summary>
/// FZ-01 (b): a raw TLS + HTTP/2 server answers our client's CONNECT with seeded, mutated frame sequences. Every
/// attempt must end, within a deadline, in a tunnel or a typed <see cref="HboneException"/>.
/// </summary>
public sealed class FrameFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 300;
    private const int BaseSeed = 20260101;
    private static readonly TimeSpan IterationDeadline = TimeSpan.FromSeconds(15);

    private const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8, Continuation = 9;
    private const byte EndStream = 0x1, EndHeaders = 0x4;

    [Fact]
    [Trait("case", "FZ-01")]
    public async Task FZ01_mutated_frame_sequences_from_a_raw_server_end_in_a_tunnel_or_a_typed_error()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        using var stop = new CancellationTokenSource();
        var server = new FuzzServer(listener);
        var serving = Task.Run(() => server.RunAsync(stop.Token));
        var outcomes = new Dictionary<string, int>();
        try
        {
            for (var iteration = 0; iteration < Iterations; iteration++)
            {
                server.BeginIteration(BaseSeed + iteration);
                var outcome = await RunIterationAsync(endPoint, iteration);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        }
        finally
        {
            await stop.CancelAsync();
            listener.Dispose();
            await serving.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }

        output.WriteLine(string.Join(Environment.NewLine, outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Value,4} {o.Key}")));
        Assert.Null(server.Failure);
        Assert.True(outcomes.Keys.Any(k => k.StartsWith("tunnel", StringComparison.Ordinal)), "no iteration produced a tunnel: the harness is broken");
        Assert.True(outcomes.Keys.Any(k => !k.StartsWith("tunnel", StringComparison.Ordinal)), "no iteration produced an error: the mutations do nothing");
    }

    private static async Task<string> RunIterationAsync(IPEndPoint server, int iteration)
    {
        var seed = BaseSeed + iteration;
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.MaxDialRetries = 0;
            o.ConnectTimeout = TimeSpan.FromSeconds(5);
            o.KeepAlivePingDelay = TimeSpan.FromSeconds(2);
            o.KeepAlivePingTimeout = TimeSpan.FromSeconds(2);
        });
        var request = new Hbone.Client.HboneRequest
        {
            Destination = server,
            Authority = HboneAuthority.Parse("10.244.0.9:8080"),
            ExpectedIdentities = [ClientFixture.ServerId],
        };
        using var deadline = new CancellationTokenSource(IterationDeadline);
        try
        {
            await using var tunnel = await client.ConnectAsync(request, deadline.Token);
            var buffer = new byte[16 * 1024];
            long total = 0;
            for (var reads = 0; reads < 10_000; reads++)
            {
                var read = await tunnel.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    return "tunnel, then END_STREAM";
                }

                total += read;
            }

            throw new Xunit.Sdk.XunitException($"seed {seed}: more than 10,000 reads ({total} bytes) from a short frame sequence");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}: no outcome within {IterationDeadline} (hang)");
        }
        catch (HboneException ex)
        {
            // The exact type matters (HboneException, Http2StreamResetException or HboneConnectException).
            return $"{ex.GetType().Name} {ex.Reason}";
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}: untyped failure {ex.GetType()}: {ex}");
        }
    }

    /// <summary>Accepts TLS connections; each gets a valid SETTINGS, waits for the CONNECT, then gets mutated frames.</summary>
    private sealed class FuzzServer(Socket listener)
    {
        private int _seed;
        private int _connectionInIteration;

        public Exception? Failure { get; private set; }

        public void BeginIteration(int seed)
        {
            Volatile.Write(ref _seed, seed);
            Volatile.Write(ref _connectionInIteration, 0);
        }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                var seed = Volatile.Read(ref _seed) * 16 + Interlocked.Increment(ref _connectionInIteration);
                _ = ServeAsync(socket, seed, cancellationToken);
            }
        }

        private async Task ServeAsync(Socket socket, int seed, CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            var token = timeout.Token;
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
            try
            {
                await RawH2Server.AcceptHandshakeAsync(tls, token);
                await tls.WriteAsync(Frame(Settings, 0, 0, []), token);

                // Frames must answer a stream the client opened: wait for its HEADERS (stream 1).
                var header = new byte[9];
                int streamId;
                while (true)
                {
                    await tls.ReadExactlyAsync(header, token);
                    var length = (header[0] << 16) | (header[1] << 8) | header[2];
                    await tls.ReadExactlyAsync(new byte[length], token);
                    if (header[3] == Headers)
                    {
                        streamId = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & int.MaxValue;
                        break;
                    }
                }

                await tls.WriteAsync(Mutated(new Random(seed), streamId), token);
                await tls.FlushAsync(token);
                await tls.ShutdownAsync();
                socket.Shutdown(SocketShutdown.Send);

                // Read until the client closes, so closing here never resets what it has not read yet.
                var sink = new byte[16 * 1024];
                while (await tls.ReadAsync(sink, token) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or AuthenticationException or ObjectDisposedException or SocketException)
            {
            }
            catch (Exception ex)
            {
                Failure ??= ex;
            }
        }

        private static byte[] Mutated(Random random, int streamId)
        {
            var frames = new List<byte[]>();
            if (random.Next(10) != 0)
            {
                frames.Add(Frame(Headers, EndHeaders, streamId, ResponseBlock(random)));
            }

            var extra = random.Next(0, 7);
            for (var i = 0; i < extra; i++)
            {
                frames.Add(ValidFrame(random, streamId));
            }

            var mutations = random.Next(0, 4);
            for (var i = 0; i < mutations && frames.Count > 0; i++)
            {
                var index = random.Next(frames.Count);
                frames[index] = Mutate(random, frames[index], streamId);
                if (random.Next(8) == 0)
                {
                    frames.Insert(random.Next(frames.Count + 1), frames[index]);
                }
            }

            return [.. frames.SelectMany(f => f)];
        }

        private static byte[] ResponseBlock(Random random) => random.Next(4) switch
        {
            0 => [0x88], // :status 200, static index 8
            1 => [0x88, 0x40, 0x07, .. "baggage"u8, 0x05, .. "a=b,c"u8], // + literal with incremental indexing
            2 => [0x48, 0x03, .. "200"u8, 0x0f, 0x10, 0x03, .. "x=y"u8], // literal :status, literal "server"-ish
            _ => [0x8d], // :status 204, static index 13
        };

        private static byte[] ValidFrame(Random random, int streamId)
        {
            switch (random.Next(9))
            {
                case 0:
                    return Frame(Data, 0, streamId, RandomBytes(random, random.Next(0, 64)));
                case 1:
                    return Frame(Data, EndStream, streamId, RandomBytes(random, random.Next(0, 16)));
                case 2:
                    return Frame(WindowUpdate, 0, random.Next(2) == 0 ? 0 : streamId, BigEndian(random.Next(1, 1 << 20)));
                case 3:
                    return Frame(Ping, (byte)random.Next(2), 0, RandomBytes(random, 8));
                case 4:
                    return Frame(GoAway, 0, 0, [.. BigEndian(random.Next(2) == 0 ? streamId : 0), .. BigEndian(random.Next(0, 14))]);
                case 5:
                    return Frame(RstStream, 0, streamId, BigEndian(random.Next(0, 14)));
                case 6:
                    return Frame(Settings, 0, 0, [0, 4, .. BigEndian(random.Next(0, 1 << 24)), 0, 3, .. BigEndian(random.Next(0, 300))]);
                case 7:
                    return Frame(Settings, 1, 0, []);
                default:
                    return Frame(Headers, EndHeaders | EndStream, streamId, [0x88]);
            }
        }

        private static byte[] Mutate(Random random, byte[] frame, int streamId)
        {
            var copy = (byte[])frame.Clone();
            switch (random.Next(7))
            {
                case 0: // flip bits anywhere, header included
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                    return copy;
                case 1: // a length field that disagrees with the payload
                    var length = random.Next(0, copy.Length + 32);
                    copy[0] = (byte)(length >> 16);
                    copy[1] = (byte)(length >> 8);
                    copy[2] = (byte)length;
                    return copy;
                case 2: // another frame type, unknown ones included
                    copy[3] = (byte)random.Next(0, 16);
                    return copy;
                case 3:
                    copy[4] = (byte)random.Next(256);
                    return copy;
                case 4:
                    BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(5), random.Next(5) switch { 0 => 0, 1 => streamId + 2, 2 => 2, 3 => streamId, _ => random.Next() });
                    return copy;
                case 5: // truncated payload, consistent length
                    var keep = random.Next(0, copy.Length - 9 + 1);
                    var truncated = copy[..(9 + keep)];
                    truncated[0] = (byte)(keep >> 16);
                    truncated[1] = (byte)(keep >> 8);
                    truncated[2] = (byte)keep;
                    return truncated;
                default: // CONTINUATION-shaped header block split without END_HEADERS
                    copy[4] = (byte)(copy[4] & ~EndHeaders);
                    return [.. copy, .. Frame(Continuation, random.Next(2) == 0 ? EndHeaders : (byte)0, streamId, RandomBytes(random, random.Next(0, 8)))];
            }
        }

        private static byte[] Frame(byte type, byte flags, int streamId, byte[] payload)
        {
            var frame = new byte[9 + payload.Length];
            frame[0] = (byte)(payload.Length >> 16);
            frame[1] = (byte)(payload.Length >> 8);
            frame[2] = (byte)payload.Length;
            frame[3] = type;
            frame[4] = flags;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
            payload.CopyTo(frame, 9);
            return frame;
        }

        private static byte[] BigEndian(int value)
        {
            var bytes = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
            return bytes;
        }

        private static byte[] RandomBytes(Random random, int count)
        {
            var bytes = new byte[count];
            random.NextBytes(bytes);
            return bytes;
        }
    }
}
