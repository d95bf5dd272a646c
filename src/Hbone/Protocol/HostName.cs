namespace Hbone.Protocol;

/// <summary>DNS host name syntax (RFC 1123 labels) as accepted in an HBONE authority.</summary>
internal static class HostName
{
    /// <summary>Longest host name allowed (RFC 1035 text form without the trailing dot).</summary>
    public const int MaxLength = 253;

    private const int MaxLabelLength = 63;

    /// <summary>True when <paramref name="host"/> is dot-separated labels of letters, digits and inner hyphens, ending in a non-numeric label.</summary>
    public static bool IsValid(ReadOnlySpan<char> host)
    {
        if (host.IsEmpty || host.Length > MaxLength)
        {
            return false;
        }
        bool lastLabelNumeric = true;
        int labelStart = 0;
        for (int i = 0; i <= host.Length; i++)
        {
            if (i == host.Length || host[i] == '.')
            {
                int length = i - labelStart;
                if (length is 0 or > MaxLabelLength || host[labelStart] == '-' || host[i - 1] == '-')
                {
                    return false;
                }
                if (i < host.Length)
                {
                    lastLabelNumeric = true;
                    labelStart = i + 1;
                }
                continue;
            }
            char c = host[i];
            if (char.IsAsciiLetter(c) || c == '-')
            {
                lastLabelNumeric = false;
            }
            else if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }
        // An all-numeric last label would read as a (malformed) IPv4 address.
        return !lastLabelNumeric;
    }
}
