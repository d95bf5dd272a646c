using System.Buffers;

namespace Hbone.Protocol;

/// <summary>Character classes of RFC 9110 shared by the header parsers.</summary>
internal static class HttpSyntax
{
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>True for a token character (RFC 9110 §5.6.2 tchar).</summary>
    public static bool IsTokenChar(char c) => TokenChars.Contains(c);

    /// <summary>True when <paramref name="text"/> is a non-empty token.</summary>
    public static bool IsToken(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept(TokenChars);

    /// <summary>True for optional whitespace (SP / HTAB).</summary>
    public static bool IsOws(char c) => c is ' ' or '\t';

    /// <summary>True for a character allowed unescaped inside a quoted-string (qdtext, obs-text limited to Latin-1).</summary>
    public static bool IsQuotedText(char c) => c is '\t' or ' ' or '!' || (c >= '#' && c <= '[') || (c >= ']' && c <= '~') || (c >= '\u0080' && c <= '\u00ff');

    /// <summary>True for a character that may follow a backslash in a quoted-pair.</summary>
    public static bool IsQuotedPairChar(char c) => c is '\t' || (c >= ' ' && c <= '~') || (c >= '\u0080' && c <= '\u00ff');

    /// <summary>Skips optional whitespace starting at <paramref name="pos"/>.</summary>
    public static int SkipOws(ReadOnlySpan<char> text, int pos)
    {
        while (pos < text.Length && IsOws(text[pos]))
        {
            pos++;
        }
        return pos;
    }
}
