using FsCheck;
using FsCheck.Fluent;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public class SpiffeIdPropertyTests
{
    private const string TrustDomainChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_";
    private const string PathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";

    private static readonly Config TenThousand = Config.QuickThrowOnFailure.WithMaxTest(10_000);

    private static Gen<string> Word(string alphabet, int maxLength) =>
        Gen.Choose(1, maxLength).SelectMany(n => Gen.ArrayOf(Gen.Elements(alphabet.ToCharArray()), n)).Select(chars => new string(chars));

    private static readonly Gen<(string TrustDomain, string Path)> ValidParts =
        from trustDomain in Word(TrustDomainChars, 40)
        from segments in Gen.Choose(0, 6).SelectMany(n => Gen.ArrayOf(Word(PathChars, 12).Where(s => s is not "." and not ".."), n))
        select (trustDomain, string.Concat(segments.Select(s => "/" + s)));

    [Fact]
    [Trait("case", "FZ-03")]
    public void Parse_of_format_returns_the_same_parts()
    {
        Prop.ForAll(ValidParts.ToArbitrary(), parts =>
        {
            string formatted = $"spiffe://{parts.TrustDomain}{parts.Path}";
            SpiffeId id = SpiffeId.Parse(formatted);
            return id.TrustDomain == parts.TrustDomain && id.Path == parts.Path && id.ToString() == formatted
                && SpiffeId.Parse(id.ToString()).Equals(id);
        }).Check(TenThousand);
    }

    [Fact]
    [Trait("case", "FZ-03")]
    public void Random_strings_never_throw_an_unexpected_type()
    {
        // Mix unstructured strings with near-valid IDs so both the scheme check and the deeper rules are exercised.
        Gen<string> nearValid =
            from parts in ValidParts
            from noise in ArbMap.Default.GeneratorFor<string>().Select(s => s ?? "")
            from position in Gen.Choose(0, 60)
            let id = $"spiffe://{parts.TrustDomain}{parts.Path}"
            select id.Insert(Math.Min(position, id.Length), noise);
        Gen<string?> anyString = Gen.OneOf(ArbMap.Default.GeneratorFor<string?>(), nearValid.Select(s => (string?)s));

        Prop.ForAll(anyString.ToArbitrary(), value =>
        {
            bool parsed = SpiffeId.TryParse(value, out SpiffeId? id, out SpiffeIdError error);
            if (parsed != (error == SpiffeIdError.None) || parsed != (id is not null))
            {
                return false;
            }

            try
            {
                SpiffeId reparsed = SpiffeId.Parse(value!);
                return parsed && reparsed.Equals(id);
            }
            catch (SpiffeIdException ex)
            {
                return !parsed && ex.Error == error;
            }
        }).Check(TenThousand);
    }
}
