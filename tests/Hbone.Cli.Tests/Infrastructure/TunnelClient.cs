using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>
/// A minimal HBONE client written with raw HTTP/2 frames over <see cref="SslStream"/>: one CONNECT on stream 1.
/// Independent of the server's HTTP/2 stack on purpose; it handles only what these tests need.
/// </summary>
internal sealed class TunnelClient : IAsyncDisposable
{
    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7, WindowUpdate = 0x8;
    private const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4;
    private const int StreamId = 1;

    private readonly TcpClient _tcp;
    private readonly SslStream _tls;

    private TunnelClient(TcpClient tcp, SslStream tls)
    {
        _tcp = tcp;
        _tls = tls;
    }

    /// <summary>The CONNECT answer's <c>:status</c>.</summary>
    public int Status { get; private set; }

    /// <summary>True once the server sent GOAWAY.</summary>
    public bool GoAwayReceived { get; private set; }

    /// <summary>Connects with the client SVID in <paramref name="certPath"/>/<paramref name="keyPath"/> and sends CONNECT <paramref name="authority"/>.</summary>
    public static async Task<TunnelClient> ConnectAsync(string server, string certPath, string keyPath, string authority, CancellationToken cancellationToken)
    {
        var endPoint = IPEndPoint.Parse(server);
        var tcp = new TcpClient(endPoint.AddressFamily);
        await tcp.ConnectAsync(endPoint, cancellationToken);
        using var certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        var tls = new SslStream(tcp.GetStream());
        var client = new TunnelClient(tcp, tls);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "hbone",
                ClientCertificates = [certificate],
                EnabledSslProtocols = SslProtocols.Tls13,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                // The server's SVID is checked by the certs tests; here the tunnel is what matters.
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, cancellationToken);
            if (tls.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
            {
                throw new InvalidOperationException($"ALPN negotiated '{tls.NegotiatedApplicationProtocol}', not h2.");
            }

            await tls.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), cancellationToken);
            await client.WriteFrameAsync(Settings, 0, 0, ReadOnlyMemory<byte>.Empty, cancellationToken);
            await client.WriteFrameAsync(Headers, EndHeaders, StreamId, ConnectHeaderBlock(authority), cancellationToken);
            await client.ReadResponseAsync(cancellationToken);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends tunnel bytes in one DATA frame.</summary>
    public Task SendAsync(ReadOnlyMemory<byte> payload, bool endStream, CancellationToken cancellationToken) =>
        WriteFrameAsync(Data, endStream ? EndStream : (byte)0, StreamId, payload, cancellationToken);

    /// <summary>Reads tunnel bytes until the server's END_STREAM.</summary>
    public async Task<byte[]> ReadToEndAsync(CancellationToken cancellationToken)
    {
        using var received = new MemoryStream();
        while (true)
        {
            var (payload, end) = await ReadDataAsync(cancellationToken);
            received.Write(payload);
            if (end)
            {
                return received.ToArray();
            }
        }
    }

    /// <summary>Reads at least <paramref name="count"/> tunnel bytes.</summary>
    public async Task<byte[]> ReadAtLeastAsync(int count, CancellationToken cancellationToken)
    {
        using var received = new MemoryStream();
        while (received.Length < count)
        {
            var (payload, end) = await ReadDataAsync(cancellationToken);
            received.Write(payload);
            if (end)
            {
                break;
            }
        }

        return received.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
    }

    private async Task ReadResponseAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var (type, flags, stream, payload) = await ReadFrameAsync(cancellationToken);
            if (type == Headers && stream == StreamId)
            {
                Status = ParseStatus(payload);
                return;
            }

            if (type == RstStream && stream == StreamId)
            {
                throw new InvalidOperationException($"CONNECT reset with error code {BinaryPrimitives.ReadUInt32BigEndian(payload)}.");
            }
        }
    }

    private async Task<(byte[] Payload, bool EndStream)> ReadDataAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var (type, flags, stream, payload) = await ReadFrameAsync(cancellationToken);
            if (stream != StreamId)
            {
                continue;
            }

            if (type == Data)
            {
                if (payload.Length > 0)
                {
                    // Give the credit back so large echoes never stall on the 64 KiB default windows.
                    var increment = new byte[4];
                    BinaryPrimitives.WriteUInt32BigEndian(increment, (uint)payload.Length);
                    await WriteFrameAsync(WindowUpdate, 0, 0, increment, cancellationToken);
                    await WriteFrameAsync(WindowUpdate, 0, StreamId, increment, cancellationToken);
                }

                return (payload, (flags & EndStream) != 0);
            }

            if (type == Headers && (flags & EndStream) != 0)
            {
                return ([], true);
            }

            if (type == RstStream)
            {
                throw new IOException($"Tunnel reset with error code {BinaryPrimitives.ReadUInt32BigEndian(payload)}.");
            }
        }
    }

    /// <summary>Reads one frame, answering SETTINGS and PING on the way.</summary>
    private async Task<(byte Type, byte Flags, int Stream, byte[] Payload)> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var header = new byte[9];
        await _tls.ReadExactlyAsync(header, cancellationToken);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        await _tls.ReadExactlyAsync(payload, cancellationToken);
        var (type, flags) = (header[3], header[4]);
        var stream = (int)(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7FFF_FFFF);
        if (type == Settings && (flags & Ack) == 0)
        {
            await WriteFrameAsync(Settings, Ack, 0, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }
        else if (type == Ping && (flags & Ack) == 0)
        {
            await WriteFrameAsync(Ping, Ack, 0, payload, cancellationToken);
        }
        else if (type == GoAway)
        {
            GoAwayReceived = true;
        }

        return (type, flags, stream, payload);
    }

    private async Task WriteFrameAsync(byte type, byte flags, int stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)stream);
        payload.CopyTo(frame.AsMemory(9));
        await _tls.WriteAsync(frame, cancellationToken);
        await _tls.FlushAsync(cancellationToken);
    }

    /// <summary>HPACK: each header a literal never indexed with a literal name, no Huffman coding.</summary>
    private static byte[] ConnectHeaderBlock(string authority)
    {
        var block = new List<byte>();
        foreach (var (name, value) in new[] { (":method", "CONNECT"), (":authority", authority) })
        {
            block.Add(0x10);
            AddString(block, name);
            AddString(block, value);
        }

        return [.. block];
    }

    private static void AddString(List<byte> block, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (bytes.Length >= 127)
        {
            throw new ArgumentException("Only short header values are supported.", nameof(value));
        }

        block.Add((byte)bytes.Length);
        block.AddRange(bytes);
    }

    /// <summary>Reads <c>:status</c>, the first field Kestrel writes: indexed 0x88 (200) or a literal with indexed name 8.</summary>
    private static int ParseStatus(byte[] block)
    {
        if (block.Length > 0 && block[0] == 0x88)
        {
            return 200;
        }

        // Literal with incremental indexing (01xxxxxx), without indexing (0000xxxx) or never indexed (0001xxxx), name index 8.
        var first = block.Length > 2 ? block[0] : (byte)0;
        var nameIsStatus = (first & 0xC0) == 0x40 ? (first & 0x3F) == 8 : (first & 0xE0) == 0 && (first & 0x0F) == 8;
        if (!nameIsStatus || (block[1] & 0x80) != 0)
        {
            throw new InvalidOperationException($"Unexpected :status encoding: {Convert.ToHexString(block)}");
        }

        return int.Parse(Encoding.ASCII.GetString(block, 2, block[1] & 0x7F), System.Globalization.CultureInfo.InvariantCulture);
    }
}
