using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>
/// A deliberately small HTTP/2 client for tests: raw frames in, raw frames out, or (after <see cref="StartProcessing"/>)
/// CONNECT streams with flow control. It sends what a test asks, including what a conforming client never would.
/// </summary>
internal sealed class RawHttp2Connection : IAsyncDisposable
{
    public static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
    public const int OwnWindow = 64 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<int, RawStream> _streams = new();
    private readonly Hpack.Decoder _decoder = new();
    private readonly object _windowLock = new();
    private readonly CancellationTokenSource _closed = new();
    private TaskCompletionSource _windowChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _connectionSendWindow = 65535;
    private int _peerInitialWindow = 65535;
    private int _nextStreamId = 1;
    private Task? _reader;

    private RawHttp2Connection(Socket socket, SslStream stream)
    {
        _socket = socket;
        Stream = stream;
    }

    public SslStream Stream { get; }

    public int PeerMaxFrameSize { get; private set; } = 16384;

    public int PeerMaxConcurrentStreams { get; private set; } = int.MaxValue;

    public TaskCompletionSource<Http2Frame> GoAway { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The GOAWAY whose last-stream-id is final (below 2^31-1): streams above it will never be served.</summary>
    public TaskCompletionSource<Http2Frame> FinalGoAway { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource ReaderClosed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<RawHttp2Connection> OpenAsync(
        IPEndPoint server, Svid? client, bool sendPreface = true, SslProtocols protocols = SslProtocols.Tls13,
        List<SslApplicationProtocol>? alpn = null, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server, cancellationToken);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "hbone",
            EnabledSslProtocols = protocols,
            ApplicationProtocols = alpn ?? [SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (client is not null)
        {
            options.ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, client.Intermediates, offline: true);
        }

        await ssl.AuthenticateAsClientAsync(options, cancellationToken);
        var connection = new RawHttp2Connection(socket, ssl);
        if (sendPreface)
        {
            await connection.SendPrefaceAsync(cancellationToken);
        }

        return connection;
    }

    public async Task SendPrefaceAsync(CancellationToken cancellationToken = default)
    {
        await Stream.WriteAsync(Preface, cancellationToken);
        await WriteSettingsAsync([(SettingId.InitialWindowSize, OwnWindow), (SettingId.EnablePush, 0)], cancellationToken);
        await WriteWindowUpdateAsync(0, OwnWindow - 65535, cancellationToken);
    }

    public Task WriteSettingsAsync(IReadOnlyList<(ushort Id, int Value)> settings, CancellationToken cancellationToken = default)
    {
        var payload = new byte[settings.Count * 6];
        for (var i = 0; i < settings.Count; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), settings[i].Id);
            BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(i * 6 + 2), settings[i].Value);
        }

        return WriteFrameAsync(FrameType.Settings, 0, 0, payload, cancellationToken);
    }

    public Task WriteWindowUpdateAsync(int streamId, int increment, CancellationToken cancellationToken = default)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        return WriteFrameAsync(FrameType.WindowUpdate, 0, streamId, payload, cancellationToken);
    }

    public Task WriteRstStreamAsync(int streamId, int errorCode, CancellationToken cancellationToken = default)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, errorCode);
        return WriteFrameAsync(FrameType.RstStream, 0, streamId, payload, cancellationToken);
    }

    public Task WriteHeadersAsync(int streamId, IEnumerable<(string, string)> headers, bool endStream, bool endHeaders = true, CancellationToken cancellationToken = default)
    {
        var flags = (byte)((endStream ? FrameFlags.EndStream : 0) | (endHeaders ? FrameFlags.EndHeaders : 0));
        return WriteFrameAsync(FrameType.Headers, flags, streamId, Hpack.Encode(headers), cancellationToken);
    }

    public async Task WriteFrameAsync(byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var header = new byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), streamId);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await Stream.WriteAsync(header, cancellationToken);
            if (!payload.IsEmpty)
            {
                await Stream.WriteAsync(payload, cancellationToken);
            }

            await Stream.FlushAsync(cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Reads the next frame; null when the server closed the connection.</summary>
    public async Task<Http2Frame?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        var header = new byte[9];
        if (!await ReadExactlyOrEofAsync(header, cancellationToken))
        {
            return null;
        }

        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        if (length > 0 && !await ReadExactlyOrEofAsync(payload, cancellationToken))
        {
            return null;
        }

        return new Http2Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, payload);
    }

    /// <summary>Reads frames until one matches (answering SETTINGS and PING meanwhile); null at EOF.</summary>
    public async Task<Http2Frame?> ReadUntilAsync(Func<Http2Frame, bool> match, CancellationToken cancellationToken)
    {
        while (await ReadFrameAsync(cancellationToken) is { } frame)
        {
            if (match(frame))
            {
                return frame;
            }

            await AnswerControlFrameAsync(frame, cancellationToken);
        }

        return null;
    }

    public List<(string Name, string Value)> DecodeHeaders(ReadOnlySpan<byte> block) => _decoder.Decode(block);

    /// <summary>Starts the background reader that serves <see cref="OpenStreamAsync"/> streams.</summary>
    public void StartProcessing() => _reader = Task.Run(ReadLoopAsync);

    public async Task<RawStream> OpenStreamAsync(string? authority, IEnumerable<(string, string)>? extraHeaders = null, string method = "CONNECT", bool endStream = false, CancellationToken cancellationToken = default)
    {
        var headers = new List<(string, string)> { (":method", method) };
        if (authority is not null)
        {
            headers.Add((":authority", authority));
        }

        if (extraHeaders is not null)
        {
            headers.AddRange(extraHeaders);
        }

        int id;
        RawStream stream;
        lock (_windowLock)
        {
            id = _nextStreamId;
            _nextStreamId += 2;
            stream = new RawStream(this, id, _peerInitialWindow);
            _streams[id] = stream;
        }

        await WriteHeadersAsync(id, headers, endStream, cancellationToken: cancellationToken);
        return stream;
    }

    internal async Task SendDataAsync(RawStream stream, ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken)
    {
        if (data.IsEmpty && endStream)
        {
            await WriteFrameAsync(FrameType.Data, FrameFlags.EndStream, stream.Id, ReadOnlyMemory<byte>.Empty, cancellationToken);
            return;
        }

        while (!data.IsEmpty)
        {
            int chunk;
            Task wait;
            lock (_windowLock)
            {
                chunk = (int)Math.Min(Math.Min(data.Length, PeerMaxFrameSize), Math.Min(_connectionSendWindow, stream.SendWindow));
                if (chunk > 0)
                {
                    _connectionSendWindow -= chunk;
                    stream.SendWindow -= chunk;
                }

                wait = _windowChanged.Task;
            }

            if (chunk <= 0)
            {
                await wait.WaitAsync(cancellationToken);
                continue;
            }

            var last = endStream && chunk == data.Length;
            await WriteFrameAsync(FrameType.Data, last ? FrameFlags.EndStream : (byte)0, stream.Id, data[..chunk], cancellationToken);
            data = data[chunk..];
        }
    }

    private async Task ReadLoopAsync()
    {
        var headerBlock = new MemoryStream();
        var headerStream = 0;
        var headerEndStream = false;
        try
        {
            while (await ReadFrameAsync(_closed.Token) is { } frame)
            {
                switch (frame.Type)
                {
                    case FrameType.Settings when !frame.HasFlag(FrameFlags.Ack):
                        ApplySettings(frame.Payload);
                        await WriteFrameAsync(FrameType.Settings, FrameFlags.Ack, 0, ReadOnlyMemory<byte>.Empty, _closed.Token);
                        break;
                    case FrameType.Ping when !frame.HasFlag(FrameFlags.Ack):
                        await WriteFrameAsync(FrameType.Ping, FrameFlags.Ack, 0, frame.Payload, _closed.Token);
                        break;
                    case FrameType.WindowUpdate:
                        Credit(frame.StreamId, BinaryPrimitives.ReadInt32BigEndian(frame.Payload) & 0x7fffffff);
                        break;
                    case FrameType.Headers or FrameType.Continuation:
                        if (frame.Type == FrameType.Headers)
                        {
                            headerBlock.SetLength(0);
                            headerStream = frame.StreamId;
                            headerEndStream = frame.HasFlag(FrameFlags.EndStream);
                        }

                        headerBlock.Write(frame.Payload);
                        if (frame.HasFlag(FrameFlags.EndHeaders) && _streams.TryGetValue(headerStream, out var target))
                        {
                            target.OnHeaders(_decoder.Decode(headerBlock.ToArray()), headerEndStream);
                        }

                        break;
                    case FrameType.Data:
                        if (_streams.TryGetValue(frame.StreamId, out var dataStream))
                        {
                            dataStream.OnData(frame.Payload, frame.HasFlag(FrameFlags.EndStream));
                        }

                        if (frame.Payload.Length > 0)
                        {
                            // Return credit at once: tests measure the server, not our buffering.
                            await WriteWindowUpdateAsync(0, frame.Payload.Length, _closed.Token);
                            if (!frame.HasFlag(FrameFlags.EndStream))
                            {
                                await WriteWindowUpdateAsync(frame.StreamId, frame.Payload.Length, _closed.Token);
                            }
                        }

                        break;
                    case FrameType.RstStream:
                        if (_streams.TryGetValue(frame.StreamId, out var resetStream))
                        {
                            resetStream.OnReset(frame.ErrorCode);
                        }

                        break;
                    case FrameType.GoAway:
                        GoAway.TrySetResult(frame);
                        if ((BinaryPrimitives.ReadInt32BigEndian(frame.Payload) & 0x7fffffff) != int.MaxValue)
                        {
                            FinalGoAway.TrySetResult(frame);
                        }

                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or AuthenticationException)
        {
        }
        finally
        {
            foreach (var stream in _streams.Values)
            {
                stream.OnConnectionClosed();
            }

            ReaderClosed.TrySetResult();
        }
    }

    private async Task AnswerControlFrameAsync(Http2Frame frame, CancellationToken cancellationToken)
    {
        if (frame.Type == FrameType.Settings && !frame.HasFlag(FrameFlags.Ack))
        {
            ApplySettings(frame.Payload);
            await WriteFrameAsync(FrameType.Settings, FrameFlags.Ack, 0, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }
        else if (frame.Type == FrameType.Ping && !frame.HasFlag(FrameFlags.Ack))
        {
            await WriteFrameAsync(FrameType.Ping, FrameFlags.Ack, 0, frame.Payload, cancellationToken);
        }
    }

    private void ApplySettings(byte[] payload)
    {
        for (var i = 0; i + 6 <= payload.Length; i += 6)
        {
            var id = BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i));
            var value = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(i + 2));
            switch (id)
            {
                case SettingId.InitialWindowSize:
                    lock (_windowLock)
                    {
                        var delta = value - _peerInitialWindow;
                        _peerInitialWindow = value;
                        foreach (var stream in _streams.Values)
                        {
                            stream.SendWindow += delta;
                        }
                    }

                    Signal();
                    break;
                case SettingId.MaxFrameSize:
                    PeerMaxFrameSize = value;
                    break;
                case SettingId.MaxConcurrentStreams:
                    PeerMaxConcurrentStreams = value;
                    break;
            }
        }
    }

    private void Credit(int streamId, int increment)
    {
        lock (_windowLock)
        {
            if (streamId == 0)
            {
                _connectionSendWindow += increment;
            }
            else if (_streams.TryGetValue(streamId, out var stream))
            {
                stream.SendWindow += increment;
            }
        }

        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource previous;
        lock (_windowLock)
        {
            previous = _windowChanged;
            _windowChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        previous.TrySetResult();
    }

    private async Task<bool> ReadExactlyOrEofAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await Stream.ReadAsync(buffer[total..], cancellationToken);
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
        _closed.Cancel();
        _socket.Dispose();
        await Stream.DisposeAsync();
        if (_reader is not null)
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(10));
        }

        _closed.Dispose();
    }
}
