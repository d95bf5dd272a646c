using System.Text;
using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class ProtocolFuzzTests
{
    private const int Iterations = 20_000;
    private const int Seed = 0x4B0E;

    private static readonly string[] Seeds =
    [
        "10.0.0.1:80",
        "[fd00::1]:15008",
        "echo.default.svc.cluster.local:8080",
        "for=\"10.244.0.2:40123\";host=echo.default.svc.cluster.local",
        "for=\"[2001:db8:cafe::17]:4711\", for=_gazonk;proto=https;by=unknown",
        "for=192.0.2.60;proto=http;by=203.0.113.43;host=\"a\\\"b\"",
        "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep,service.version=v1",
        "k=%C3%A9;p=1;q, j = v%2C",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
    ];

    // Characters that matter to at least one grammar, plus ones none of them accept.
    private const string Interesting = ":[]@%\"\\,;= \t0159afAFxz-._\0\r\n\u00e9\u0100\uD800\uDC00\uFFFF";

    [Fact]
    [Trait("case", "FZ-02")]
    public void FZ_02_mutated_inputs_never_throw_and_results_are_self_consistent()
    {
        var random = new Random(Seed);
        int accepted = 0;
        int rejected = 0;
        for (int i = 0; i < Iterations; i++)
        {
            string input = Mutate(Seeds[random.Next(Seeds.Length)], random);
            int ok = CheckAuthority(input) + CheckForwarded(input) + CheckBaggage(input) + CheckTraceParent(input);
            accepted += ok;
            rejected += 4 - ok;
        }

        // Both outcomes must be common, or the mutations are not exercising the parsers.
        Assert.InRange(accepted, Iterations / 20, Iterations * 4);
        Assert.InRange(rejected, Iterations, Iterations * 4);
    }

    private static int CheckAuthority(string input)
    {
        bool ok = HboneAuthority.TryParse(input, out HboneAuthority authority, out AuthorityError error);
        Assert.Equal(ok, error == AuthorityError.None);
        try
        {
            HboneAuthority parsed = HboneAuthority.Parse(input);
            Assert.True(ok, input);
            Assert.Equal(authority, parsed);
            Assert.Equal(authority, HboneAuthority.Parse(authority.ToString()));
        }
        catch (HboneException ex)
        {
            Assert.False(ok, input);
            Assert.Equal(HboneErrorReason.InvalidAuthority, ex.Reason);
            Assert.Contains(error.ToString(), ex.Message, StringComparison.Ordinal);
        }
        return ok ? 1 : 0;
    }

    private static int CheckForwarded(string input)
    {
        bool ok = ForwardedHeader.TryParse(input, out IReadOnlyList<ForwardedElement> elements);
        ForwardedElement? first = ForwardedHeader.ParseFirst(input);
        Assert.Equal(ok, first is not null);
        Assert.Equal(ok, elements.Count > 0);
        if (ok)
        {
            Assert.Equal(elements[0].For, first!.For);
            Assert.Equal(elements[0].ForEndPoint, first.ForEndPoint);
            Assert.Equal(elements[0].Host, first.Host);
        }
        return ok ? 1 : 0;
    }

    private static int CheckBaggage(string input)
    {
        bool ok = Baggage.TryParse(input, out Baggage? baggage);
        Assert.Equal(ok, baggage is not null);
        if (ok && HasNonEmptyValue(baggage!))
        {
            Assert.True(Baggage.TryParse(baggage!.ToString(), out Baggage? again), input);
            Assert.Equal(NonEmpty(baggage), again.Entries);
        }
        return ok ? 1 : 0;
    }

    private static int CheckTraceParent(string input)
    {
        bool ok = TraceParent.TryParse(input, out TraceParent value);
        if (ok)
        {
            Assert.True(TraceParent.TryParse(value.ToString(), out TraceParent again));
            Assert.Equal(value, again);
        }
        else
        {
            Assert.Equal(default, value);
        }
        return ok ? 1 : 0;
    }

    private static bool HasNonEmptyValue(Baggage baggage)
    {
        foreach (KeyValuePair<string, string> entry in baggage.Entries)
        {
            if (entry.Value.Length > 0)
            {
                return true;
            }
        }
        return false;
    }

    private static List<KeyValuePair<string, string>> NonEmpty(Baggage baggage)
    {
        var list = new List<KeyValuePair<string, string>>();
        foreach (KeyValuePair<string, string> entry in baggage.Entries)
        {
            if (entry.Value.Length > 0)
            {
                list.Add(entry);
            }
        }
        return list;
    }

    private static string Mutate(string seed, Random random)
    {
        var text = new StringBuilder(seed);
        int mutations = random.Next(1, 4);
        for (int m = 0; m < mutations; m++)
        {
            int at = text.Length == 0 ? 0 : random.Next(text.Length);
            char c = random.Next(4) == 0 ? (char)random.Next(0x10000) : Interesting[random.Next(Interesting.Length)];
            switch (random.Next(5))
            {
                case 0 when text.Length > 0:
                    text[at] = c;
                    break;
                case 1:
                    text.Insert(at, c);
                    break;
                case 2 when text.Length > 0:
                    text.Remove(at, Math.Min(random.Next(1, 4), text.Length - at));
                    break;
                case 3 when text.Length > 0:
                    text.Insert(at, text.ToString(at, Math.Min(random.Next(1, 12), text.Length - at)));
                    break;
                default:
                    text.Length = Math.Min(text.Length, at);
                    break;
            }
        }
        return text.ToString();
    }
}
