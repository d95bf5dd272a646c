using System.Buffers.Binary;
using System.Net;
using Hbone.Ztunnel.Dns;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary>DNS messages built byte by byte for the tests, and readers for the replies.</summary>
internal static class DnsMessages
{
    /// <summary>A standard query (RD set) for <paramref name="name"/>; with <paramref name="ednsSize"/>, an OPT record too.</summary>
    public static byte[] Query(string name, ushort type, ushort id = 0x1234, int? ednsSize = null, ushort flags = 0x0100)
    {
        byte[] qname = DnsWire.EncodeName(name);
        int opt = ednsSize is null ? 0 : 11;
        byte[] message = new byte[12 + qname.Length + 4 + opt];
        BinaryPrimitives.WriteUInt16BigEndian(message, id);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(10), (ushort)(ednsSize is null ? 0 : 1));
        qname.CopyTo(message, 12);
        int offset = 12 + qname.Length;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(offset), type);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(offset + 2), 1);
        if (ednsSize is { } size)
        {
            offset += 4;
            message[offset] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(offset + 1), 41);
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(offset + 3), (ushort)size);
        }

        return message;
    }

    public static ushort Id(byte[] reply) => BinaryPrimitives.ReadUInt16BigEndian(reply);

    public static int Rcode(byte[] reply) => reply[3] & 0x0F;

    public static bool Truncated(byte[] reply) => (reply[2] & 0x02) != 0;

    public static bool Authoritative(byte[] reply) => (reply[2] & 0x04) != 0;

    public static int Count(byte[] reply, int section) => BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(4 + (2 * section)));

    /// <summary>The answer section's records as (type, ttl, data), data being an address or a dotted name.</summary>
    public static List<(ushort Type, uint Ttl, string Data)> Answers(byte[] reply)
    {
        int offset = 12;
        for (int q = 0; q < Count(reply, 0); q++)
        {
            offset = SkipName(reply, offset) + 4;
        }

        var answers = new List<(ushort, uint, string)>();
        for (int a = 0; a < Count(reply, 1); a++)
        {
            offset = SkipName(reply, offset);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(offset));
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(offset + 4));
            int length = BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(offset + 8));
            offset += 10;
            string data = type is 1 or 28 ? new IPAddress(reply.AsSpan(offset, length)).ToString() : ReadName(reply, offset);
            answers.Add((type, ttl, data));
            offset += length;
        }

        return answers;
    }

    private static int SkipName(byte[] m, int offset)
    {
        while (m[offset] != 0)
        {
            if ((m[offset] & 0xC0) == 0xC0)
            {
                return offset + 2;
            }

            offset += m[offset] + 1;
        }

        return offset + 1;
    }

    private static string ReadName(byte[] m, int offset)
    {
        var labels = new List<string>();
        while (m[offset] != 0)
        {
            if ((m[offset] & 0xC0) == 0xC0)
            {
                offset = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(offset)) & 0x3FFF;
                continue;
            }

            labels.Add(System.Text.Encoding.ASCII.GetString(m, offset + 1, m[offset]));
            offset += m[offset] + 1;
        }

        return string.Join('.', labels);
    }
}
