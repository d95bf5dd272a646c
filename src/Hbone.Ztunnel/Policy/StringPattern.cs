namespace Hbone.Ztunnel.Policy;

/// <summary>An Istio string match: exact, prefix (<c>abc*</c>), suffix (<c>*abc</c>) or presence (<c>*</c>); never a regex.</summary>
/// <remarks>Classified in Istio's order: <c>*</c>, then a leading <c>*</c>, then a trailing <c>*</c>; everything else is literal.</remarks>
internal readonly struct StringPattern
{
    private enum Kind : byte { Exact, Prefix, Suffix, Presence }

    private readonly Kind _kind;
    private readonly string _value;

    private StringPattern(Kind kind, string value)
    {
        _kind = kind;
        _value = value;
    }

    public static StringPattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern == "*")
        {
            return new StringPattern(Kind.Presence, string.Empty);
        }

        if (pattern.StartsWith('*'))
        {
            return new StringPattern(Kind.Suffix, pattern[1..]);
        }

        if (pattern.EndsWith('*'))
        {
            return new StringPattern(Kind.Prefix, pattern[..^1]);
        }

        return new StringPattern(Kind.Exact, pattern);
    }

    public bool Matches(ReadOnlySpan<char> value) => _kind switch
    {
        Kind.Presence => !value.IsEmpty,
        Kind.Prefix => value.StartsWith(_value, StringComparison.Ordinal),
        Kind.Suffix => value.EndsWith(_value, StringComparison.Ordinal),
        _ => value.SequenceEqual(_value),
    };

    public override string ToString() => _kind switch
    {
        Kind.Presence => "*",
        Kind.Prefix => _value + "*",
        Kind.Suffix => "*" + _value,
        _ => _value,
    };
}
