using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Hbone.Ztunnel.Dns;

/// <summary>
/// The little of the DNS wire format (RFC 1035 §4, RFC 6891 OPT) the proxy needs: parse a query strictly, write an
/// address answer or an error reply. Everything else is forwarded as bytes and never parsed.
/// </summary>
internal static class DnsWire
{
    /// <summary>The fixed header's length.</summary>
    public const int HeaderLength = 12;

    /// <summary>The largest UDP reply without EDNS (RFC 1035 §4.2.1).</summary>
    public const int ClassicUdpLimit = 512;

    /// <summary>The UDP payload size the proxy advertises in its own OPT records (the DNS flag day 2020 value).</summary>
    public const int AdvertisedUdpSize = 1232;

    /// <summary>Seconds the proxy's own answers may be cached, as ztunnel's.</summary>
    public const uint Ttl = 30;

    private const ushort QrFlag = 0x8000;
    private const ushort OpcodeMask = 0x7800;
    private const ushort AaFlag = 0x0400;
    private const ushort TcFlag = 0x0200;
    private const ushort RdFlag = 0x0100;
    private const ushort RaFlag = 0x0080;
    private const ushort CdFlag = 0x0010;
    private const int MaxNameLength = 255;
    private const int MaxLabelLength = 63;
    private const int ResourceFixedLength = 10;

    /// <summary>
    /// Parses a query. <see cref="DnsRcode.NoError"/>: <paramref name="query"/> is complete. Otherwise the code to reply
    /// with; <paramref name="query"/> then has at least the id and flags when a whole header came (<paramref name="message"/> ≥ 12 bytes).
    /// </summary>
    public static DnsRcode TryParseQuery(ReadOnlySpan<byte> message, out DnsQuery query)
    {
        query = default;
        if (message.Length < HeaderLength)
        {
            return DnsRcode.FormErr;
        }

        ushort id = BinaryPrimitives.ReadUInt16BigEndian(message);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        query = new DnsQuery(id, flags, "", 0, 0, 0, ClassicUdpLimit, false);
        if ((flags & QrFlag) != 0)
        {
            return DnsRcode.FormErr;
        }

        if (query.Opcode != 0)
        {
            return DnsRcode.NotImp;
        }

        int questions = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int records = BinaryPrimitives.ReadUInt16BigEndian(message[6..]) + BinaryPrimitives.ReadUInt16BigEndian(message[8..]);
        int additional = BinaryPrimitives.ReadUInt16BigEndian(message[10..]);
        int offset = HeaderLength;
        if (questions != 1 || !TryReadQuestionName(message, ref offset, out string name) || offset + 4 > message.Length)
        {
            return DnsRcode.FormErr;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
        ushort @class = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]);
        offset += 4;
        int questionLength = offset - HeaderLength;
        int udpSize = ClassicUdpLimit;
        bool edns = false;
        for (int i = 0; i < records + additional; i++)
        {
            if (!TrySkipName(message, ref offset) || offset + ResourceFixedLength > message.Length)
            {
                return DnsRcode.FormErr;
            }

            ushort rrType = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
            ushort rrClass = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]);
            int dataLength = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 8)..]);
            offset += ResourceFixedLength + dataLength;
            if (offset > message.Length)
            {
                return DnsRcode.FormErr;
            }

            if (rrType == DnsQuery.TypeOpt)
            {
                // One OPT, in the additional section only (RFC 6891 §6.1.1).
                if (edns || i < records)
                {
                    return DnsRcode.FormErr;
                }

                edns = true;
                udpSize = Math.Max(ClassicUdpLimit, (int)rrClass);
            }
        }

        query = new DnsQuery(id, flags, name, type, @class, questionLength, udpSize, edns);
        return DnsRcode.NoError;
    }

    /// <summary>
    /// The proxy's authoritative answer to <paramref name="query"/>: a CNAME when a search domain was stripped, then one
    /// record per address. Over a limit (UDP), the reply is truncated to its question with TC set, so the client retries over TCP.
    /// </summary>
    public static byte[] WriteAnswer(ReadOnlySpan<byte> queryMessage, in DnsQuery query, MeshAnswer answer, int limit)
    {
        byte[]? target = answer.AliasOf is null ? null : EncodeName(answer.OwnerName);
        int addressesLength = 0;
        foreach (IPAddress address in answer.Addresses)
        {
            addressesLength += 2 + ResourceFixedLength + (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 4 : 16);
        }

        int optLength = query.HasEdns ? 1 + ResourceFixedLength : 0;
        int cnameLength = target is null ? 0 : 2 + ResourceFixedLength + target.Length;
        int full = HeaderLength + query.QuestionLength + cnameLength + addressesLength + optLength;
        bool truncated = full > limit;
        int answers = truncated ? 0 : answer.Addresses.Count + (target is null ? 0 : 1);
        byte[] reply = new byte[truncated ? HeaderLength + query.QuestionLength + optLength : full];

        ushort flags = (ushort)(QrFlag | (query.Flags & (OpcodeMask | RdFlag | CdFlag)) | AaFlag | RaFlag | (truncated ? TcFlag : 0));
        int offset = WriteHeader(reply, query.Id, flags, questions: 1, answers, additional: query.HasEdns ? 1 : 0);
        queryMessage.Slice(HeaderLength, query.QuestionLength).CopyTo(reply.AsSpan(offset));
        offset += query.QuestionLength;
        if (!truncated)
        {
            // Owner names are compression pointers: to the question's name, or to the CNAME's target.
            int owner = HeaderLength;
            if (target is not null)
            {
                offset = WriteRecordHead(reply, offset, owner, DnsQuery.TypeCname, Ttl, target.Length);
                owner = offset;
                target.CopyTo(reply, offset);
                offset += target.Length;
            }

            foreach (IPAddress address in answer.Addresses)
            {
                bool v4 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
                offset = WriteRecordHead(reply, offset, owner, v4 ? DnsQuery.TypeA : DnsQuery.TypeAaaa, Ttl, v4 ? 4 : 16);
                address.TryWriteBytes(reply.AsSpan(offset), out int written);
                offset += written;
            }
        }

        if (query.HasEdns)
        {
            WriteOpt(reply, offset);
        }

        return reply;
    }

    /// <summary>An error reply with <paramref name="rcode"/>; the question is echoed when the query parsed (<paramref name="queryMessage"/> then holds it).</summary>
    public static byte[] WriteError(ReadOnlySpan<byte> queryMessage, in DnsQuery query, DnsRcode rcode)
    {
        bool echo = query.QuestionLength > 0;
        bool opt = echo && query.HasEdns;
        byte[] reply = new byte[HeaderLength + (echo ? query.QuestionLength : 0) + (opt ? 1 + ResourceFixedLength : 0)];
        ushort flags = (ushort)(QrFlag | (query.Flags & (OpcodeMask | RdFlag | CdFlag)) | RaFlag | (ushort)rcode);
        int offset = WriteHeader(reply, query.Id, flags, questions: echo ? 1 : 0, answers: 0, additional: opt ? 1 : 0);
        if (echo)
        {
            queryMessage.Slice(HeaderLength, query.QuestionLength).CopyTo(reply.AsSpan(offset));
            offset += query.QuestionLength;
        }

        if (opt)
        {
            WriteOpt(reply, offset);
        }

        return reply;
    }

    /// <summary>The name as labels ending with the root label; each label at most 63 bytes.</summary>
    public static byte[] EncodeName(string name)
    {
        string[] labels = name.TrimEnd('.').Split('.');
        var encoded = new byte[labels.Sum(l => l.Length + 1) + 1];
        int offset = 0;
        foreach (string label in labels)
        {
            if (label.Length is 0 or > MaxLabelLength)
            {
                throw new ArgumentException($"'{name}' is not a DNS name: every label is 1 to {MaxLabelLength} characters", nameof(name));
            }

            encoded[offset++] = (byte)label.Length;
            offset += Encoding.ASCII.GetBytes(label, encoded.AsSpan(offset));
        }

        return encoded;
    }

    private static int WriteHeader(Span<byte> reply, ushort id, ushort flags, int questions, int answers, int additional)
    {
        BinaryPrimitives.WriteUInt16BigEndian(reply, id);
        BinaryPrimitives.WriteUInt16BigEndian(reply[2..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(reply[4..], (ushort)questions);
        BinaryPrimitives.WriteUInt16BigEndian(reply[6..], (ushort)answers);
        BinaryPrimitives.WriteUInt16BigEndian(reply[8..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(reply[10..], (ushort)additional);
        return HeaderLength;
    }

    private static int WriteRecordHead(Span<byte> reply, int offset, int ownerOffset, ushort type, uint ttl, int dataLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(reply[offset..], (ushort)(0xC000 | ownerOffset));
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 2)..], type);
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 4)..], DnsQuery.ClassIn);
        BinaryPrimitives.WriteUInt32BigEndian(reply[(offset + 6)..], ttl);
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 10)..], (ushort)dataLength);
        return offset + 2 + ResourceFixedLength;
    }

    private static void WriteOpt(Span<byte> reply, int offset)
    {
        reply[offset] = 0; // the root name
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 1)..], DnsQuery.TypeOpt);
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 3)..], AdvertisedUdpSize);
        BinaryPrimitives.WriteUInt32BigEndian(reply[(offset + 5)..], 0); // extended rcode, version 0, no flags
        BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 9)..], 0);
    }

    /// <summary>
    /// The question's name: plain labels only (a compression pointer cannot point anywhere valid this early). Bytes that
    /// are not plain hostname characters are escaped as <c>\DDD</c>, so such a name never equals a service hostname.
    /// </summary>
    private static bool TryReadQuestionName(ReadOnlySpan<byte> message, ref int offset, out string name)
    {
        name = "";
        var text = new StringBuilder();
        int wireLength = 0;
        while (true)
        {
            if (offset >= message.Length)
            {
                return false;
            }

            int length = message[offset++];
            wireLength += length + 1;
            if (length == 0)
            {
                break;
            }

            if (length > MaxLabelLength || wireLength > MaxNameLength || offset + length > message.Length)
            {
                return false;
            }

            if (text.Length > 0)
            {
                text.Append('.');
            }

            foreach (byte b in message.Slice(offset, length))
            {
                if (b is > 0x20 and < 0x7F and not (byte)'.' and not (byte)'\\')
                {
                    text.Append((char)b);
                }
                else
                {
                    text.Append('\\').Append(b.ToString("D3", System.Globalization.CultureInfo.InvariantCulture));
                }
            }

            offset += length;
        }

        name = text.ToString();
        return true;
    }

    /// <summary>Skips a record's owner name: labels, ended by the root label or by a compression pointer.</summary>
    private static bool TrySkipName(ReadOnlySpan<byte> message, ref int offset)
    {
        int wireLength = 0;
        while (offset < message.Length)
        {
            int length = message[offset];
            if ((length & 0xC0) == 0xC0)
            {
                offset += 2;
                return offset <= message.Length;
            }

            if ((length & 0xC0) != 0 || length > MaxLabelLength)
            {
                return false;
            }

            offset += length + 1;
            wireLength += length + 1;
            if (length == 0)
            {
                return offset <= message.Length;
            }

            if (wireLength > MaxNameLength)
            {
                return false;
            }
        }

        return false;
    }
}
