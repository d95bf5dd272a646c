using System.Net;
using Hbone.Ztunnel.Dns;
using static Hbone.Ztunnel.Tests.Dns.DnsMessages;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary><see cref="DnsWire"/>: strict query parsing and the proxy's own replies, checked byte by byte.</summary>
public sealed class DnsWireTests
{
    private static readonly MeshAnswer TwoVips = new(null, "Echo.Default.svc.cluster.local", [IPAddress.Parse("10.96.0.10"), IPAddress.Parse("10.96.0.11")]);

    [Fact]
    [Trait("case", "INT-04")]
    public void A_query_parses_with_its_name_as_written_type_and_payload_size()
    {
        byte[] query = Query("Echo.Default.svc.cluster.local", 28, id: 0xBEEF, ednsSize: 1232);

        Assert.Equal(DnsRcode.NoError, DnsWire.TryParseQuery(query, out DnsQuery parsed));
        Assert.Equal((0xBEEF, "Echo.Default.svc.cluster.local", 28, 1), ((int)parsed.Id, parsed.Name, (int)parsed.Type, (int)parsed.Class));
        Assert.Equal((1232, true), (parsed.UdpPayloadSize, parsed.HasEdns));
        Assert.Equal(0, parsed.Opcode);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void An_answer_echoes_id_question_and_RD_is_authoritative_and_carries_every_address_with_ttl_30()
    {
        byte[] query = Query("Echo.Default.svc.cluster.local", 1, id: 7);
        DnsWire.TryParseQuery(query, out DnsQuery parsed);

        byte[] reply = DnsWire.WriteAnswer(query, parsed, TwoVips, DnsWire.ClassicUdpLimit);

        Assert.Equal(7, Id(reply));
        Assert.Equal((0x85, 0x80), (reply[2], reply[3])); // QR, AA, RD; RA; NOERROR
        Assert.Equal(query[12..^0], reply[12..query.Length]);
        Assert.Equal([(1, 30u, "10.96.0.10"), (1, 30u, "10.96.0.11")], Answers(reply).Select(a => ((int)a.Type, a.Ttl, a.Data)));
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_stripped_search_domain_answers_a_CNAME_to_the_service_then_its_addresses()
    {
        byte[] query = Query("echo.default.svc.cluster.local.default.svc.cluster.local", 1);
        DnsWire.TryParseQuery(query, out DnsQuery parsed);
        var answer = new MeshAnswer("echo.default.svc.cluster.local.default.svc.cluster.local", "echo.default.svc.cluster.local", [IPAddress.Parse("10.96.0.10")]);

        byte[] reply = DnsWire.WriteAnswer(query, parsed, answer, DnsWire.ClassicUdpLimit);

        Assert.Equal([(5, "echo.default.svc.cluster.local"), (1, "10.96.0.10")], Answers(reply).Select(a => ((int)a.Type, a.Data)));
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void An_answer_over_the_UDP_limit_is_its_question_with_TC_set_and_within_EDNS_size_it_is_whole()
    {
        var many = new MeshAnswer(null, "db.default.svc.cluster.local", [.. Enumerable.Range(1, 40).Select(i => IPAddress.Parse($"10.244.0.{i}"))]);
        byte[] classic = Query("db.default.svc.cluster.local", 1);
        DnsWire.TryParseQuery(classic, out DnsQuery parsedClassic);
        byte[] edns = Query("db.default.svc.cluster.local", 1, ednsSize: 4096);
        DnsWire.TryParseQuery(edns, out DnsQuery parsedEdns);

        byte[] truncated = DnsWire.WriteAnswer(classic, parsedClassic, many, parsedClassic.UdpPayloadSize);
        byte[] whole = DnsWire.WriteAnswer(edns, parsedEdns, many, parsedEdns.UdpPayloadSize);

        Assert.True(Truncated(truncated));
        Assert.Equal((1, 0), (Count(truncated, 0), Count(truncated, 1)));
        Assert.True(truncated.Length <= 512);
        Assert.False(Truncated(whole));
        Assert.Equal(40, Answers(whole).Count);
        Assert.Equal(1, Count(whole, 3)); // the OPT record answers the client's
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void No_addresses_of_the_asked_family_is_NOERROR_with_no_records_not_NXDOMAIN()
    {
        byte[] query = Query("echo.default.svc.cluster.local", 28);
        DnsWire.TryParseQuery(query, out DnsQuery parsed);

        byte[] reply = DnsWire.WriteAnswer(query, parsed, new MeshAnswer(null, "echo.default.svc.cluster.local", []), 512);

        Assert.Equal((0, 0), (Rcode(reply), Count(reply, 1)));
        Assert.True(Authoritative(reply));
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "header only, one question promised", [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0] },
        { "two questions", [0x12, 0x34, 0x01, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1] },
        { "label past the end", [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 9, (byte)'a', 0, 1, 0, 1] },
        { "compression pointer in the question", [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1] },
        { "type and class cut off", [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0, 0] },
        { "an additional record promised but absent", [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 1, 1, (byte)'a', 0, 0, 1, 0, 1] },
        { "a response, not a query", [0x12, 0x34, 0x81, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0, 0, 1, 0, 1] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    [Trait("case", "INT-04")]
    public void A_malformed_query_is_FORMERR_with_its_id_and_no_question(string why, byte[] query)
    {
        Assert.Equal(DnsRcode.FormErr, DnsWire.TryParseQuery(query, out DnsQuery parsed));

        byte[] reply = DnsWire.WriteError(query, parsed, DnsRcode.FormErr);

        Assert.True(Id(reply) == 0x1234, why);
        Assert.Equal((1, 0), (Rcode(reply), Count(reply, 0)));
        Assert.Equal(0x80, reply[2] & 0x80);
    }

    [Fact]
    public void Another_opcode_is_NOTIMP()
    {
        byte[] query = Query("a.example", 1, flags: 0x2100); // opcode 4 (NOTIFY), RD

        Assert.Equal(DnsRcode.NotImp, DnsWire.TryParseQuery(query, out DnsQuery parsed));
        Assert.Equal(4, Rcode(DnsWire.WriteError(query, parsed, DnsRcode.NotImp)));
    }

    [Fact]
    public void Label_bytes_that_are_no_hostname_characters_are_escaped_so_they_match_no_service()
    {
        byte[] query = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, (byte)'a', (byte)'.', (byte)'b', 3, (byte)'c', (byte)'o', (byte)'m', 0, 0, 1, 0, 1];

        Assert.Equal(DnsRcode.NoError, DnsWire.TryParseQuery(query, out DnsQuery parsed));
        Assert.Equal(@"a\046b.com", parsed.Name);
    }

    [Fact]
    public void Random_and_mutated_bytes_never_throw_and_a_whole_header_always_gets_a_reply_with_its_id()
    {
        var random = new Random(20261207);
        byte[] seed = Query("echo.default.svc.cluster.local", 1, ednsSize: 1232);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] message = i % 2 == 0 ? new byte[random.Next(0, 80)] : (byte[])seed.Clone();
            if (i % 2 == 0)
            {
                random.NextBytes(message);
            }
            else
            {
                message[random.Next(message.Length)] = (byte)random.Next(256);
                message = message[..random.Next(message.Length + 1)];
            }

            DnsRcode code = DnsWire.TryParseQuery(message, out DnsQuery parsed);
            if (message.Length >= 12)
            {
                byte[] reply = code == DnsRcode.NoError
                    ? DnsWire.WriteAnswer(message, parsed, TwoVips, parsed.UdpPayloadSize)
                    : DnsWire.WriteError(message, parsed, code);
                Assert.Equal(Id(message), Id(reply));
            }
        }
    }
}
