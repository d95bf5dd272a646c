using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>One frame as the raw server reads it.</summary>
internal sealed record RawFrame(byte Type, byte Flags, int StreamId, byte[] Payload);

/// <summary>
/// A scripted HTTP/2 server over TLS (the shared server SVID, ALPN h2) on 127.0.0.1: each accepted connection has
/// its preface read and is handed to the script, which writes exactly the frames a test needs.
/// </summary>
internal sealed class RawH2Server : IAsyncDisposable
{
    public const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8, Continuation = 9;
    public const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4, Padded = 0x8;

    private readonly Socket _listener;
    private readonly Func<Connection, Task> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly List<Task> _connections = [];
    private int _accepted;

    public RawH2Server(Func<Connection, Task> script)
    {
        _script = script;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The first exception a script threw (other than the connection going away).</summary>
    public Exception? ScriptFailure { get; private set; }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var index = Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket, index));
            }
        }
    }

    private async Task ServeAsync(Socket socket, int index)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
        try
        {
            await AcceptHandshakeAsync(tls, timeout.Token);
            await _script(new Connection(tls, socket, index, timeout.Token));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or AuthenticationException or ObjectDisposedException or SocketException or EndOfStreamException)
        {
        }
        catch (Exception ex)
        {
            ScriptFailure ??= ex;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>One accepted connection, past the client preface.</summary>
    /// <summary>The server side of TLS (the shared server SVID, ALPN h2, any client certificate) and the client preface.</summary>
    public static async Task AcceptHandshakeAsync(SslStream tls, CancellationToken cancellationToken)
    {
        await tls.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions
            {
                ServerCertificateContext = SslStreamCertificateContext.Create(TestPki.Shared.Server.Certificate, TestPki.Shared.Server.Intermediates, offline: true),
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                EnabledSslProtocols = SslProtocols.Tls13,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
            cancellationToken);
        await tls.ReadExactlyAsync(new byte[24], cancellationToken);
    }

    internal sealed class Connection(SslStream tls, Socket socket, int index, CancellationToken token)
    {
        /// <summary>1 for the first connection the server accepted, 2 for the next, ...</summary>
        public int Index => index;

        public CancellationToken Token => token;

        public async Task<RawFrame> ReadFrameAsync()
        {
            var header = new byte[9];
            await tls.ReadExactlyAsync(header, token);
            var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
            await tls.ReadExactlyAsync(payload, token);
            return new RawFrame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & int.MaxValue, payload);
        }

        /// <summary>Reads frames (acknowledging nothing) until one of <paramref name="type"/> arrives.</summary>
        public async Task<RawFrame> ReadUntilAsync(byte type)
        {
            for (var i = 0; i < 10_000; i++)
            {
                var frame = await ReadFrameAsync();
                if (frame.Type == type)
                {
                    return frame;
                }
            }

            throw new InvalidOperationException($"no frame of type {type} in 10,000 frames");
        }

        public Task WriteAsync(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
        {
            var frame = new byte[9 + payload.Length];
            frame[0] = (byte)(payload.Length >> 16);
            frame[1] = (byte)(payload.Length >> 8);
            frame[2] = (byte)payload.Length;
            frame[3] = type;
            frame[4] = flags;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
            payload.CopyTo(frame.AsSpan(9));
            return tls.WriteAsync(frame, token).AsTask();
        }

        public Task WriteSettingsAsync(params (ushort Id, uint Value)[] settings)
        {
            var payload = new byte[settings.Length * 6];
            for (var i = 0; i < settings.Length; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), settings[i].Id);
                BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan((i * 6) + 2), settings[i].Value);
            }

            return WriteAsync(Settings, 0, 0, payload);
        }

        public Task WriteGoAwayAsync(int lastStreamId, int errorCode)
        {
            var payload = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId);
            BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), errorCode);
            return WriteAsync(GoAway, 0, 0, payload);
        }

        public Task WriteRstStreamAsync(int streamId, int errorCode)
        {
            var payload = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(payload, errorCode);
            return WriteAsync(RstStream, 0, streamId, payload);
        }

        /// <summary>Half-closes the connection and reads until the client closes it (so nothing it has not read is reset).</summary>
        public async Task CloseAsync()
        {
            await tls.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
            var sink = new byte[16 * 1024];
            while (await tls.ReadAsync(sink, token) > 0)
            {
            }
        }

        /// <summary>Reads and discards until the client closes the connection.</summary>
        public async Task DrainAsync()
        {
            var sink = new byte[16 * 1024];
            while (await tls.ReadAsync(sink, token) > 0)
            {
            }
        }
    }
}
