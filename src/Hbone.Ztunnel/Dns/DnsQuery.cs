namespace Hbone.Ztunnel.Dns;

/// <summary>The parts of a parsed DNS query the proxy acts on; the query's bytes stay where they were read.</summary>
/// <param name="Id">The transaction id, echoed in the reply.</param>
/// <param name="Flags">The header's flag word (opcode, RD, CD...).</param>
/// <param name="Name">The question's name, dotted, without the root dot, as the client wrote it (letter case kept).</param>
/// <param name="Type">The question's type (1 A, 28 AAAA...).</param>
/// <param name="Class">The question's class (1 IN).</param>
/// <param name="QuestionLength">Bytes of the question section, which starts at offset 12.</param>
/// <param name="UdpPayloadSize">The EDNS payload size the client accepts over UDP; 512 without an OPT record.</param>
/// <param name="HasEdns">True when the query carried an OPT record (the reply then carries one too, RFC 6891 §7).</param>
internal readonly record struct DnsQuery(ushort Id, ushort Flags, string Name, ushort Type, ushort Class, int QuestionLength, int UdpPayloadSize, bool HasEdns)
{
    /// <summary>Type A.</summary>
    public const ushort TypeA = 1;

    /// <summary>Type CNAME.</summary>
    public const ushort TypeCname = 5;

    /// <summary>Type AAAA.</summary>
    public const ushort TypeAaaa = 28;

    /// <summary>Type OPT (EDNS).</summary>
    public const ushort TypeOpt = 41;

    /// <summary>Class IN.</summary>
    public const ushort ClassIn = 1;

    /// <summary>The opcode (0 is a standard query).</summary>
    public int Opcode => (Flags >> 11) & 0xF;
}
