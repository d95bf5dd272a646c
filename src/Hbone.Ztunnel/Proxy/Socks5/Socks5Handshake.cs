using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.Socks5;

/// <summary>
/// The server side of a SOCKS5 handshake (RFC 1928): no authentication, CONNECT only. Reads exactly the greeting and
/// the request, nothing after them, through one pooled buffer.
/// </summary>
public static class Socks5Handshake
{
    private const byte Version = 5;
    private const byte NoAuthentication = 0x00;
    private const byte NoAcceptableMethods = 0xFF;
    private const byte Connect = 1;
    private const byte AddressTypeIPv4 = 1;
    private const byte AddressTypeDomain = 3;
    private const byte AddressTypeIPv6 = 4;

    // The largest message read: a request with a 255-byte domain name (4 + 1 + 255 + 2).
    private const int BufferSize = 262;

    // A reply with an IPv6 address (4 + 16 + 2).
    private const int MaxReplySize = 22;

    /// <summary>Reads the greeting, answers the method selection, then reads the CONNECT request.</summary>
    /// <param name="stream">The client's connection.</param>
    /// <param name="cancellationToken">Cancels the reads and writes.</param>
    /// <returns>The target the client asked for; the caller connects and then sends <see cref="WriteReplyAsync"/>.</returns>
    /// <exception cref="Socks5Exception">
    /// The input is malformed or truncated, no acceptable method was offered (answered <c>05 FF</c>), the command
    /// is not CONNECT (answered with <see cref="Socks5Reply.CommandNotSupported"/>) or the address type is unknown
    /// (answered with <see cref="Socks5Reply.AddressTypeNotSupported"/>).
    /// </exception>
    public static async ValueTask<Socks5Request> ReadRequestAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await NegotiateMethodAsync(stream, buffer, cancellationToken).ConfigureAwait(false);
            return await ReadConnectAsync(stream, buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes <c>05 REP 00 ATYP BND.ADDR BND.PORT</c>.</summary>
    /// <param name="stream">The client's connection.</param>
    /// <param name="reply">The outcome of the request.</param>
    /// <param name="bound">The address the server bound for the connection; 0.0.0.0:0 when null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public static async ValueTask WriteReplyAsync(Stream stream, Socks5Reply reply, IPEndPoint? bound, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = ArrayPool<byte>.Shared.Rent(MaxReplySize);
        try
        {
            var length = FormatReply(buffer, reply, bound);
            await stream.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask NegotiateMethodAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        await ReadAsync(stream, buffer.AsMemory(0, 2), "greeting", cancellationToken).ConfigureAwait(false);
        if (buffer[0] != Version)
        {
            throw new Socks5Exception(Socks5Reply.GeneralFailure, $"not a SOCKS5 greeting: version {buffer[0]}");
        }

        int count = buffer[1];
        await ReadAsync(stream, buffer.AsMemory(0, count), "greeting methods", cancellationToken).ConfigureAwait(false);
        var acceptable = buffer.AsSpan(0, count).Contains(NoAuthentication);
        buffer[0] = Version;
        buffer[1] = acceptable ? NoAuthentication : NoAcceptableMethods;
        await stream.WriteAsync(buffer.AsMemory(0, 2), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (!acceptable)
        {
            throw new Socks5Exception(Socks5Reply.NotAllowed, "no acceptable authentication method: only 'no authentication' is supported");
        }
    }

    private static async ValueTask<Socks5Request> ReadConnectAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        await ReadAsync(stream, buffer.AsMemory(0, 4), "request", cancellationToken).ConfigureAwait(false);
        var version = buffer[0];
        var command = buffer[1];
        var addressType = buffer[3];
        if (version != Version)
        {
            throw await RejectAsync(stream, Socks5Reply.GeneralFailure, $"not a SOCKS5 request: version {version}", cancellationToken).ConfigureAwait(false);
        }

        // The address is read before any rejection of the command, so that the client's request is consumed
        // whole and closing the connection does not turn the reply into a reset.
        int addressLength;
        switch (addressType)
        {
            case AddressTypeIPv4:
                addressLength = 4;
                break;
            case AddressTypeIPv6:
                addressLength = 16;
                break;
            case AddressTypeDomain:
                await ReadAsync(stream, buffer.AsMemory(0, 1), "domain name length", cancellationToken).ConfigureAwait(false);
                addressLength = buffer[0];
                if (addressLength == 0)
                {
                    throw await RejectAsync(stream, Socks5Reply.GeneralFailure, "empty domain name", cancellationToken).ConfigureAwait(false);
                }

                break;
            default:
                throw await RejectAsync(stream, Socks5Reply.AddressTypeNotSupported, $"address type {addressType} is not supported", cancellationToken).ConfigureAwait(false);
        }

        await ReadAsync(stream, buffer.AsMemory(0, addressLength + 2), "destination", cancellationToken).ConfigureAwait(false);
        var port = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(addressLength, 2));
        if (command != Connect)
        {
            throw await RejectAsync(stream, Socks5Reply.CommandNotSupported, $"command {command} is not supported: only CONNECT (1) is", cancellationToken).ConfigureAwait(false);
        }

        if (addressType == AddressTypeDomain)
        {
            if (buffer.AsSpan(0, addressLength).IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0)
            {
                throw await RejectAsync(stream, Socks5Reply.GeneralFailure, "the domain name has a byte outside printable ASCII", cancellationToken).ConfigureAwait(false);
            }

            return new Socks5Request(null, Encoding.ASCII.GetString(buffer, 0, addressLength), port);
        }

        return new Socks5Request(new IPEndPoint(new IPAddress(buffer.AsSpan(0, addressLength)), port), null, port);
    }

    /// <summary>Sends the failure reply and returns the exception for the caller to throw.</summary>
    private static async ValueTask<Socks5Exception> RejectAsync(Stream stream, Socks5Reply reply, string message, CancellationToken cancellationToken)
    {
        await WriteReplyAsync(stream, reply, null, cancellationToken).ConfigureAwait(false);
        return new Socks5Exception(reply, message);
    }

    private static async ValueTask ReadAsync(Stream stream, Memory<byte> destination, string what, CancellationToken cancellationToken)
    {
        try
        {
            await stream.ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException ex)
        {
            throw new Socks5Exception(Socks5Reply.GeneralFailure, $"the client closed the connection in the middle of the {what}", ex);
        }
    }

    private static int FormatReply(Span<byte> buffer, Socks5Reply reply, IPEndPoint? bound)
    {
        buffer[0] = Version;
        buffer[1] = (byte)reply;
        buffer[2] = 0;
        var address = bound?.Address ?? IPAddress.Any;
        var ipv6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        buffer[3] = ipv6 ? AddressTypeIPv6 : AddressTypeIPv4;
        var addressLength = ipv6 ? 16 : 4;
        if (!address.TryWriteBytes(buffer.Slice(4, addressLength), out _))
        {
            throw new ArgumentException($"Cannot write the address {address}.", nameof(bound));
        }

        BinaryPrimitives.WriteUInt16BigEndian(buffer.Slice(4 + addressLength, 2), (ushort)(bound?.Port ?? 0));
        return 4 + addressLength + 2;
    }
}
