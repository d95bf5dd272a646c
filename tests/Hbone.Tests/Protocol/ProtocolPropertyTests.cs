using System.Diagnostics;
using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class ProtocolPropertyTests
{
    private static readonly Config Config10K = Config.QuickThrowOnFailure.WithMaxTest(10_000);

    private static readonly Gen<IPAddress> Addresses = Gen.OneOf(
        Gen.ArrayOf(Gen.Choose(0, 255), 4).Select(b => new IPAddress(ToBytes(b))),
        Gen.ArrayOf(Gen.Choose(0, 255), 16).Select(b => new IPAddress(ToBytes(b))));

    private static readonly Gen<string> Labels = Gen.Choose(1, 20).SelectMany(length =>
        Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".ToCharArray()), length))
        .Select(chars => new string(chars).Trim('-'))
        .Where(label => label.Length > 0);

    private static readonly Gen<string> HostNames = Gen.Choose(1, 5)
        .SelectMany(count => Gen.ArrayOf(Labels, count))
        .Select(labels => string.Join('.', labels) + ".svc")
        .Where(host => host.Length <= 253);

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_authority_round_trips_for_ip_endpoints()
    {
        Prop.ForAll(Arb.From(Addresses.SelectMany(a => Gen.Choose(1, 65535).Select(p => new IPEndPoint(a, p)))), endPoint =>
        {
            HboneAuthority authority = HboneAuthority.FromEndPoint(endPoint);
            return HboneAuthority.Parse(authority.ToString()) == authority && endPoint.Equals(authority.ToIPEndPoint());
        }).Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_authority_round_trips_for_host_names_in_lowercase()
    {
        Prop.ForAll(Arb.From(HostNames.SelectMany(h => Gen.Choose(1, 65535).Select(p => (Host: h, Port: p)))), x =>
        {
            HboneAuthority authority = HboneAuthority.Parse($"{x.Host}:{x.Port}");
            return authority.Host == x.Host.ToLowerInvariant() && authority.Port == x.Port && HboneAuthority.Parse(authority.ToString()) == authority;
        }).Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_random_strings_only_ever_throw_HboneException_from_Parse()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<string>(), s =>
        {
            string text = s ?? string.Empty;
            bool ok = HboneAuthority.TryParse(text, out _, out AuthorityError error);
            try
            {
                HboneAuthority.Parse(text);
                return ok;
            }
            catch (HboneException ex)
            {
                return !ok && ex.Reason == HboneErrorReason.InvalidAuthority && ex.Message.Contains(error.ToString(), StringComparison.Ordinal);
            }
        }).Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_forwarded_format_then_parse_returns_the_endpoint_and_host()
    {
        Gen<(IPEndPoint EndPoint, string? Host)> values =
            from address in Addresses
            from port in Gen.Choose(0, 65535)
            from host in Gen.OneOf(HostNames.Select(h => (string?)h), Gen.Constant<string?>(null), HostNames.Select(h => (string?)(h + ":8080")))
            select (new IPEndPoint(address, port), host);
        Prop.ForAll(Arb.From(values), x =>
        {
            ForwardedElement? element = ForwardedHeader.ParseFirst(ForwardedHeader.Format(x.EndPoint, x.Host));
            return element is not null && x.EndPoint.Equals(element.ForEndPoint) && element.Host == x.Host;
        }).Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_baggage_format_then_parse_round_trips()
    {
        Gen<string> keys = Gen.Choose(1, 12).SelectMany(n =>
            Gen.ArrayOf(Gen.Elements("abcXYZ019.-_*!#$&'+^`|~".ToCharArray()), n)).Select(c => new string(c));
        Gen<string> values = ArbMap.Default.ArbFor<string>().Generator.Where(v => !string.IsNullOrEmpty(v) && IsValidUtf16(v));
        Gen<KeyValuePair<string, string>[]> entries = Gen.Choose(1, 20).SelectMany(n =>
            Gen.ArrayOf(keys.SelectMany(k => values.Select(v => new KeyValuePair<string, string>(k, v))), n));
        Prop.ForAll(Arb.From(entries), list =>
            Baggage.TryParse(Baggage.Format(list), out Baggage? parsed) && parsed.Entries.SequenceEqual(list))
            .Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_traceparent_round_trips()
    {
        Gen<TraceParent> values =
            from trace in Gen.ArrayOf(Gen.Choose(0, 255), 16).Where(b => Array.Exists(b, x => x != 0))
            from span in Gen.ArrayOf(Gen.Choose(0, 255), 8).Where(b => Array.Exists(b, x => x != 0))
            from flags in Gen.Choose(0, 255)
            select new TraceParent(ActivityTraceId.CreateFromBytes(ToBytes(trace)), ActivitySpanId.CreateFromBytes(ToBytes(span)), (ActivityTraceFlags)flags);
        Prop.ForAll(Arb.From(values), value =>
        {
            string text = value.ToString();
            return text.Length == TraceParent.Length && TraceParent.TryParse(text, out TraceParent parsed) && parsed == value;
        }).Check(Config10K);
    }

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_random_strings_never_throw_from_header_parsers()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<string>(), s =>
        {
            string text = s ?? string.Empty;
            bool forwarded = ForwardedHeader.TryParse(text, out IReadOnlyList<ForwardedElement> elements);
            bool baggage = Baggage.TryParse(text, out Baggage? parsed);
            bool trace = TraceParent.TryParse(text, out _);
            return forwarded == (elements.Count > 0) && forwarded == (ForwardedHeader.ParseFirst(text) is not null)
                && baggage == (parsed is not null) && (!trace || text.Length >= TraceParent.Length);
        }).Check(Config10K);
    }

    private static byte[] ToBytes(int[] values)
    {
        var bytes = new byte[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bytes[i] = (byte)values[i];
        }
        return bytes;
    }

    private static bool IsValidUtf16(string value)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(value);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }
}
