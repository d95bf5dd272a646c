using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences.Infrastructure;

/// <summary>
/// A raw HTTP/2 attacker for the defence tests: it writes whatever bytes a test builds (one TLS write per call,
/// so floods go back to back), and a background reader records everything the server answers, with times.
/// The reader never blocks on a write: its ACKs and credit are fire-and-forget, so a server that stops reading
/// cannot hide its GOAWAY from the test.
/// </summary>
internal sealed class H2Client : IAsyncDisposable
{
    public static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Hpack.Decoder _decoder = new();
    private readonly ConcurrentDictionary<int, H2StreamRecord> _streams = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Task? _reader;
    private int _settingsAcks;
    private int _pingAcks;
    private int _framesRead;

    private H2Client(Socket socket, SslStream stream)
    {
        _socket = socket;
        Stream = stream;
    }

    public SslStream Stream { get; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>ACK the server's SETTINGS and PINGs (fire-and-forget).</summary>
    public bool AutoAck { get; set; } = true;

    /// <summary>Whether DATA received on a stream is credited back with a stream WINDOW_UPDATE (connection credit always is).</summary>
    public Func<int, bool> ReturnStreamCredit { get; set; } = static _ => true;

    public TaskCompletionSource<Http2Frame> FirstGoAway { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the server closed the connection (EOF, reset, or a TLS failure on read).</summary>
    public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentQueue<Http2Frame> GoAways { get; } = new();

    /// <summary>Completes once the server's first SETTINGS was acknowledged (the ACK written).</summary>
    public TaskCompletionSource ServerSettingsAcked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TimeSpan? GoAwayAt { get; private set; }

    public TimeSpan? ClosedAt { get; private set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    public int SettingsAcks => Volatile.Read(ref _settingsAcks);

    public int PingAcks => Volatile.Read(ref _pingAcks);

    public int FramesRead => Volatile.Read(ref _framesRead);

    /// <summary>
    /// TLS (TestPki client SVID, ALPN h2, TLS 1.3) to <paramref name="server"/>; then, unless told otherwise, the
    /// preface, our SETTINGS (default: push off, 1 MiB stream window), a 64 MiB connection window, and the reader.
    /// </summary>
    public static async Task<H2Client> ConnectAsync(
        IPEndPoint server, bool sendPreface = true, (ushort Id, int Value)[]? settings = null, bool startReading = true,
        CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(server, cts.Token);
            var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
            var client = TestPki.Shared.Client;
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "hbone",
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, client.Intermediates, offline: true),
                },
                cts.Token);
            var connection = new H2Client(socket, ssl);
            if (sendPreface)
            {
                await connection.SendAsync(Frames.Concat(
                [
                    Preface,
                    Frames.Settings(settings ?? [(SettingId.EnablePush, 0), (SettingId.InitialWindowSize, 1024 * 1024)]),
                    Frames.WindowUpdate(0, 64 * 1024 * 1024 - 65535),
                ]));
            }

            if (startReading)
            {
                connection.StartReading();
                if (sendPreface)
                {
                    // Our ACK of the server's SETTINGS is out before the test writes: it can never land inside a
                    // header block the test leaves open (a frame other than CONTINUATION there is PROTOCOL_ERROR).
                    await Task.WhenAny(connection.ServerSettingsAcked.Task, connection.Closed.Task, Task.Delay(TimeSpan.FromSeconds(5), cts.Token));
                }
            }

            return connection;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void StartReading() => _reader ??= Task.Run(ReadLoopAsync);

    public H2StreamRecord StreamOf(int id) => _streams.GetOrAdd(id, static i => new H2StreamRecord(i));

    /// <summary>Writes <paramref name="bytes"/> in one TLS write and flushes; throws when the connection is gone.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        cts.CancelAfter(TimeSpan.FromSeconds(10)); // a server that stopped reading must not hang a test
        await _writeLock.WaitAsync(cts.Token);
        try
        {
            await Stream.WriteAsync(bytes, cts.Token);
            await Stream.FlushAsync(cts.Token);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>As <see cref="SendAsync"/>, but false instead of an exception when the server closed or stopped reading.</summary>
    public async Task<bool> TrySendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        try
        {
            await SendAsync(bytes, cancellationToken);
            return true;
        }
        catch (Exception ex) when (IsConnectionGone(ex))
        {
            return false;
        }
    }

    /// <summary>The server's answer to <paramref name="streamId"/> within <paramref name="timeout"/>.</summary>
    public async Task<StreamAnswer> AnswerAsync(int streamId, TimeSpan timeout)
    {
        var stream = StreamOf(streamId);
        var delay = Task.Delay(timeout);

        // A graceful GOAWAY (drain) does not answer a stream: the stream's own HEADERS or RST_STREAM still follows.
        var goAwayAnswers = FirstGoAway.Task.IsCompletedSuccessfully && FirstGoAway.Task.Result.ErrorCode == (uint)Http2ErrorCode.NoError
            ? delay
            : FirstGoAway.Task;
        await Task.WhenAny(stream.Headers.Task, stream.Reset.Task, goAwayAnswers, Closed.Task, delay);
        if (stream.Headers.Task.IsCompletedSuccessfully)
        {
            var (headers, endStream) = stream.Headers.Task.Result;
            var status = headers.Find(h => h.Name == ":status").Value;
            return new StreamAnswer(AnswerKind.Status, status is null ? -1 : int.Parse(status, CultureInfo.InvariantCulture), endStream);
        }

        if (stream.Reset.Task.IsCompletedSuccessfully)
        {
            return new StreamAnswer(AnswerKind.Reset, stream.Reset.Task.Result, false);
        }

        if (FirstGoAway.Task.IsCompletedSuccessfully)
        {
            return new StreamAnswer(AnswerKind.GoAway, FirstGoAway.Task.Result.ErrorCode, false);
        }

        return Closed.Task.IsCompleted ? new StreamAnswer(AnswerKind.Closed, 0, false) : new StreamAnswer(AnswerKind.Timeout, 0, false);
    }

    /// <summary>For a stream already answered: its RST_STREAM, or the GOAWAY / close / timeout that came instead.</summary>
    public async Task<StreamAnswer> AnswerResetAsync(int streamId, TimeSpan timeout)
    {
        var stream = StreamOf(streamId);
        await Task.WhenAny(stream.Reset.Task, FirstGoAway.Task, Closed.Task, Task.Delay(timeout));
        if (stream.Reset.Task.IsCompletedSuccessfully)
        {
            return new StreamAnswer(AnswerKind.Reset, stream.Reset.Task.Result, false);
        }

        if (FirstGoAway.Task.IsCompletedSuccessfully)
        {
            return new StreamAnswer(AnswerKind.GoAway, FirstGoAway.Task.Result.ErrorCode, false);
        }

        return Closed.Task.IsCompleted ? new StreamAnswer(AnswerKind.Closed, 0, false) : new StreamAnswer(AnswerKind.Timeout, 0, false);
    }

    /// <summary>Waits for the first GOAWAY; null when none came within <paramref name="timeout"/>.</summary>
    public async Task<Http2Frame?> GoAwayWithinAsync(TimeSpan timeout)
    {
        await Task.WhenAny(FirstGoAway.Task, Task.Delay(timeout));
        return FirstGoAway.Task.IsCompletedSuccessfully ? FirstGoAway.Task.Result : null;
    }

    public async Task<bool> ClosedWithinAsync(TimeSpan timeout)
    {
        await Task.WhenAny(Closed.Task, Task.Delay(timeout));
        return Closed.Task.IsCompleted;
    }

    /// <summary>
    /// Asserts the contract's connection error: a GOAWAY with <paramref name="code"/> (and, when given, that
    /// last-stream-id) within <paramref name="timeout"/>, then the connection closes within 5 s more.
    /// </summary>
    public async Task<Http2Frame> AssertConnectionErrorAsync(Http2ErrorCode code, TimeSpan timeout, int? lastStreamId = null, Func<string>? context = null)
    {
        var goAway = await GoAwayWithinAsync(timeout);
        Assert.True(goAway is not null, $"expected GOAWAY {code} within {timeout.TotalSeconds} s; got none (closed: {Closed.Task.IsCompleted} at {ClosedAt?.TotalMilliseconds:F0} ms, frames read: {FramesRead}) {context?.Invoke()}");
        Assert.Equal(code, (Http2ErrorCode)goAway.ErrorCode);
        if (lastStreamId is { } expected)
        {
            Assert.Equal(expected, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload) & 0x7fffffff);
        }

        Assert.True(await ClosedWithinAsync(TimeSpan.FromSeconds(5)), $"the connection must close after GOAWAY {code}");
        return goAway;
    }

    public static int LastStreamId(Http2Frame goAway) => BinaryPrimitives.ReadInt32BigEndian(goAway.Payload) & 0x7fffffff;

    internal static bool IsConnectionGone(Exception ex) =>
        ex is IOException or ObjectDisposedException or OperationCanceledException or AuthenticationException or SocketException or InvalidOperationException;

    private async Task ReadLoopAsync()
    {
        var header = new byte[9];
        var block = new MemoryStream();
        var blockStream = 0;
        var blockEndStream = false;
        try
        {
            while (true)
            {
                if (!await ReadExactlyOrEofAsync(header))
                {
                    break;
                }

                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var payload = length == 0 ? [] : new byte[length];
                if (length > 0 && !await ReadExactlyOrEofAsync(payload))
                {
                    break;
                }

                var frame = new Http2Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, payload);
                Interlocked.Increment(ref _framesRead);
                switch (frame.Type)
                {
                    case FrameType.Settings when frame.HasFlag(FrameFlags.Ack):
                        Interlocked.Increment(ref _settingsAcks);
                        break;
                    case FrameType.Settings when AutoAck:
                        _ = TrySendAsync(Frames.SettingsAck()).ContinueWith(_ => ServerSettingsAcked.TrySetResult(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                        break;
                    case FrameType.Ping when frame.HasFlag(FrameFlags.Ack):
                        Interlocked.Increment(ref _pingAcks);
                        break;
                    case FrameType.Ping when AutoAck:
                        Forget(Frames.Raw(FrameType.Ping, FrameFlags.Ack, 0, frame.Payload));
                        break;
                    case FrameType.Headers or FrameType.Continuation:
                        if (frame.Type == FrameType.Headers)
                        {
                            block.SetLength(0);
                            blockStream = frame.StreamId;
                            blockEndStream = frame.HasFlag(FrameFlags.EndStream);
                        }

                        block.Write(HeadersPayload(frame));
                        if (frame.HasFlag(FrameFlags.EndHeaders))
                        {
                            // Every block is decoded, in order, so the dynamic table stays in sync.
                            var fields = _decoder.Decode(block.ToArray());
                            var record = StreamOf(blockStream);
                            if (!record.Headers.TrySetResult((fields, blockEndStream)))
                            {
                                record.Trailers.TrySetResult(fields);
                            }

                            if (blockEndStream)
                            {
                                record.OnEnd();
                            }
                        }

                        break;
                    case FrameType.Data:
                        var stream = StreamOf(frame.StreamId);
                        stream.OnData(frame.Payload, frame.HasFlag(FrameFlags.EndStream));
                        if (frame.Payload.Length > 0)
                        {
                            Forget(frame.HasFlag(FrameFlags.EndStream) || !ReturnStreamCredit(frame.StreamId)
                                ? Frames.WindowUpdate(0, frame.Payload.Length)
                                : Frames.Concat([Frames.WindowUpdate(0, frame.Payload.Length), Frames.WindowUpdate(frame.StreamId, frame.Payload.Length)]));
                        }

                        break;
                    case FrameType.RstStream:
                        StreamOf(frame.StreamId).OnReset(frame.ErrorCode);
                        break;
                    case FrameType.GoAway:
                        GoAways.Enqueue(frame);
                        GoAwayAt ??= _clock.Elapsed;
                        FirstGoAway.TrySetResult(frame);
                        break;
                }
            }
        }
        catch (Exception ex) when (IsConnectionGone(ex) || ex is NotSupportedException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
        }
        finally
        {
            ClosedAt = _clock.Elapsed;
            foreach (var stream in _streams.Values)
            {
                stream.OnConnectionClosed();
            }

            Closed.TrySetResult();
        }
    }

    private static ReadOnlySpan<byte> HeadersPayload(Http2Frame frame)
    {
        ReadOnlySpan<byte> payload = frame.Payload;
        if (frame.Type != FrameType.Headers)
        {
            return payload;
        }

        var padding = 0;
        if (frame.HasFlag(FrameFlags.Padded))
        {
            padding = payload[0];
            payload = payload[1..];
        }

        if (frame.HasFlag(FrameFlags.Priority))
        {
            payload = payload[5..];
        }

        return payload[..^padding];
    }

    private void Forget(byte[] bytes) => _ = TrySendAsync(bytes);

    private async Task<bool> ReadExactlyOrEofAsync(Memory<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await Stream.ReadAsync(buffer[total..], _closing.Token);
            if (read == 0)
            {
                return false;
            }

            total += read;
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        _closing.Cancel();
        _socket.Dispose();
        try
        {
            await Stream.DisposeAsync();
        }
        catch (Exception ex) when (IsConnectionGone(ex))
        {
        }

        if (_reader is not null)
        {
            await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(5)));
        }

        _closing.Dispose();
    }
}

internal enum AnswerKind
{
    Status,
    Reset,
    GoAway,
    Closed,
    Timeout,
}

/// <summary>What the server did about one stream: response HEADERS (status, END_STREAM), RST_STREAM, GOAWAY, close, or nothing in time.</summary>
internal sealed record StreamAnswer(AnswerKind Kind, int Code, bool EndStream)
{
    public static StreamAnswer Status(int status, bool endStream = false) => new(AnswerKind.Status, status, endStream);

    public static StreamAnswer Reset(Http2ErrorCode code) => new(AnswerKind.Reset, (int)code, false);

    public override string ToString() => Kind switch
    {
        AnswerKind.Status => $"HEADERS :status {Code}{(EndStream ? " + END_STREAM" : "")}",
        AnswerKind.Reset or AnswerKind.GoAway => $"{Kind} {(Http2ErrorCode)Code}",
        _ => Kind.ToString(),
    };
}

/// <summary>One stream as the <see cref="H2Client"/> reader saw it.</summary>
internal sealed class H2StreamRecord(int id)
{
    private readonly Channel<byte[]> _data = Channel.CreateUnbounded<byte[]>();
    private long _dataBytes;

    public int Id { get; } = id;

    public TaskCompletionSource<(List<(string Name, string Value)> Fields, bool EndStream)> Headers { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<List<(string Name, string Value)>> Trailers { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<int> Reset { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource EndStream { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long DataBytes => Interlocked.Read(ref _dataBytes);

    /// <summary>Reads exactly <paramref name="count"/> DATA octets within <paramref name="timeout"/>; fewer when the stream ended or time ran out.</summary>
    public async Task<byte[]> ReadAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var output = new MemoryStream();
        try
        {
            while (output.Length < count && await _data.Reader.WaitToReadAsync(cts.Token))
            {
                while (output.Length < count && _data.Reader.TryRead(out var chunk))
                {
                    output.Write(chunk);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return output.ToArray();
    }

    internal void OnData(byte[] payload, bool endStream)
    {
        Interlocked.Add(ref _dataBytes, payload.Length);
        if (payload.Length > 0)
        {
            _data.Writer.TryWrite(payload);
        }

        if (endStream)
        {
            OnEnd();
        }
    }

    internal void OnEnd()
    {
        EndStream.TrySetResult();
        _data.Writer.TryComplete();
    }

    internal void OnReset(int code)
    {
        Reset.TrySetResult(code);
        _data.Writer.TryComplete();
    }

    internal void OnConnectionClosed() => _data.Writer.TryComplete();
}
