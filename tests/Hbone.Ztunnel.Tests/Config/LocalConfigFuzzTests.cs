using System.Text;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Config;

public sealed class LocalConfigFuzzTests
{
    private const string Alphabet = ":-[]{}\"'#&*!|>%@,?~ \n\t0123456789abcxyz/.\\";

    [Fact]
    [Trait("case", "FZ-05")]
    public void Mutated_configs_only_ever_raise_LocalConfigException()
    {
        var random = new Random(20261121);
        string[] seeds = [Samples.ReferenceExample, Samples.ReferenceExample.Replace("notDestinationPorts", "methods", StringComparison.Ordinal)];
        int parsed = 0, rejected = 0;
        for (int i = 0; i < 2000; i++)
        {
            string yaml = Mutate(seeds[i % seeds.Length], random, 1 + random.Next(4));
            try
            {
                LocalConfig config = LocalConfigParser.Parse(yaml, "fuzz.yaml");
                parsed++;
                AssertNoFailOpen(yaml, config);
            }
            catch (LocalConfigException e)
            {
                rejected++;
                Assert.DoesNotContain('\n', e.Message);
                Assert.StartsWith("fuzz.yaml:", e.Message, StringComparison.Ordinal);
            }
        }

        // Both outcomes must occur, or the mutations test nothing.
        Assert.True(parsed > 50, $"parsed {parsed}");
        Assert.True(rejected > 50, $"rejected {rejected}");
    }

    // Fail closed: while the L7 rule line survives intact, a config that still parses keeps the L7 flag on its policy.
    private static void AssertNoFailOpen(string yaml, LocalConfig config)
    {
        if (yaml.Contains("  rules: [[[ { methods: [9999] } ]]]", StringComparison.Ordinal)
            && config.Policies is [{ Rules: [{ Clauses: [{ Matches: [PolicyMatch match] }] }] }]
            && match.NotDestinationPorts.Count == 0)
        {
            Assert.True(match.RequiresL7);
        }
    }

    private static string Mutate(string text, Random random, int count)
    {
        var sb = new StringBuilder(text);
        for (int n = 0; n < count && sb.Length > 0; n++)
        {
            int at = random.Next(sb.Length);
            switch (random.Next(6))
            {
                case 0:
                    sb.Remove(at, 1 + random.Next(Math.Min(8, sb.Length - at)));
                    break;
                case 1:
                    sb.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                    break;
                case 2:
                    sb[at] = Alphabet[random.Next(Alphabet.Length)];
                    break;
                case 3:
                    string[] lines = sb.ToString().Split('\n');
                    int a = random.Next(lines.Length), b = random.Next(lines.Length);
                    (lines[a], lines[b]) = (lines[b], lines[a]);
                    sb.Clear().Append(string.Join('\n', lines));
                    break;
                case 4:
                    int from = random.Next(sb.Length), len = random.Next(Math.Min(40, sb.Length - from));
                    sb.Insert(at, sb.ToString(from, len));
                    break;
                default:
                    string[] tokens = ["10.0.0.300", "&a", "*a", "!!int", "~", "99999", "-1", "[", "{", "'", "::", "fd00::/200", "*x*", "Deny", "TCP", "WorkloadSelector"];
                    sb.Insert(at, tokens[random.Next(tokens.Length)]);
                    break;
            }
        }

        return sb.ToString();
    }
}
