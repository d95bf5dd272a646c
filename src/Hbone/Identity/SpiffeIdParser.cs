namespace Hbone.Identity;

/// <summary>Span-based checks of the SPIFFE ID grammar; allocation-free so handshakes can call them freely.</summary>
internal static class SpiffeIdParser
{
    internal const string Scheme = "spiffe://";
    internal const int MaxIdBytes = 2048;
    internal const int MaxTrustDomainBytes = 255;

    /// <summary>Checks <paramref name="value"/> and returns where the trust domain ends (the path starts there).</summary>
    internal static SpiffeIdError Validate(ReadOnlySpan<char> value, out int trustDomainEnd)
    {
        trustDomainEnd = 0;
        if (value.IsEmpty)
        {
            return SpiffeIdError.Empty;
        }

        // Every valid character is ASCII, so a char count above the limit is also a byte count above it.
        if (value.Length > MaxIdBytes)
        {
            return SpiffeIdError.TooLong;
        }

        if (!value.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return SpiffeIdError.WrongScheme;
        }

        ReadOnlySpan<char> rest = value[Scheme.Length..];
        int slash = rest.IndexOf('/');
        ReadOnlySpan<char> trustDomain = slash < 0 ? rest : rest[..slash];
        SpiffeIdError error = ValidateTrustDomain(trustDomain);
        if (error != SpiffeIdError.None)
        {
            return error;
        }

        trustDomainEnd = Scheme.Length + trustDomain.Length;
        return slash < 0 ? SpiffeIdError.None : ValidatePath(rest[slash..]);
    }

    /// <summary>Checks a bare trust domain name such as <c>cluster.local</c>.</summary>
    internal static SpiffeIdError ValidateTrustDomain(ReadOnlySpan<char> trustDomain)
    {
        if (trustDomain.IsEmpty)
        {
            return SpiffeIdError.MissingTrustDomain;
        }

        // Name the URI feature that was used rather than a bare "bad character".
        if (trustDomain.IndexOfAny('?', '#') >= 0)
        {
            return SpiffeIdError.QueryOrFragmentNotAllowed;
        }

        if (trustDomain.Contains('@'))
        {
            return SpiffeIdError.UserInfoNotAllowed;
        }

        if (trustDomain.Contains(':'))
        {
            return SpiffeIdError.PortNotAllowed;
        }

        foreach (char c in trustDomain)
        {
            if (!IsTrustDomainChar(c))
            {
                return SpiffeIdError.InvalidTrustDomainCharacter;
            }
        }

        return trustDomain.Length > MaxTrustDomainBytes ? SpiffeIdError.TrustDomainTooLong : SpiffeIdError.None;
    }

    /// <summary>Checks a non-empty path that starts with <c>/</c>.</summary>
    internal static SpiffeIdError ValidatePath(ReadOnlySpan<char> path)
    {
        int start = 0;
        while (start < path.Length)
        {
            // path[start] is always '/' here.
            ReadOnlySpan<char> remainder = path[(start + 1)..];
            int next = remainder.IndexOf('/');
            ReadOnlySpan<char> segment = next < 0 ? remainder : remainder[..next];
            SpiffeIdError error = ValidateSegment(segment, isLast: next < 0);
            if (error != SpiffeIdError.None)
            {
                return error;
            }

            if (next < 0)
            {
                break;
            }

            start += next + 1;
        }

        return SpiffeIdError.None;
    }

    /// <summary>Checks one path segment (between two slashes).</summary>
    internal static SpiffeIdError ValidateSegment(ReadOnlySpan<char> segment, bool isLast)
    {
        if (segment.IsEmpty)
        {
            return isLast ? SpiffeIdError.TrailingSlash : SpiffeIdError.EmptySegment;
        }

        if (segment is "." or "..")
        {
            return SpiffeIdError.DotSegment;
        }

        foreach (char c in segment)
        {
            if (!IsPathChar(c))
            {
                return c switch
                {
                    '%' => SpiffeIdError.PercentEncodingNotAllowed,
                    '?' or '#' => SpiffeIdError.QueryOrFragmentNotAllowed,
                    _ => SpiffeIdError.InvalidPathCharacter,
                };
            }
        }

        return SpiffeIdError.None;
    }

    private static bool IsTrustDomainChar(char c) =>
        char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-' or '_';

    private static bool IsPathChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_';

    /// <summary>A one-line description of <paramref name="error"/> for exception messages.</summary>
    internal static string Describe(SpiffeIdError error) => error switch
    {
        SpiffeIdError.Empty => "the value is empty",
        SpiffeIdError.TooLong => "the ID is longer than 2048 bytes",
        SpiffeIdError.WrongScheme => "the scheme must be lowercase 'spiffe://'",
        SpiffeIdError.MissingTrustDomain => "the trust domain is missing",
        SpiffeIdError.TrustDomainTooLong => "the trust domain is longer than 255 bytes",
        SpiffeIdError.InvalidTrustDomainCharacter => "trust domain characters are limited to lowercase letters, digits, '.', '-' and '_'",
        SpiffeIdError.EmptySegment => "the path has an empty segment",
        SpiffeIdError.DotSegment => "the path has a '.' or '..' segment",
        SpiffeIdError.TrailingSlash => "the path has a trailing '/'",
        SpiffeIdError.InvalidPathCharacter => "path characters are limited to letters, digits, '.', '-' and '_'",
        SpiffeIdError.PortNotAllowed => "the trust domain must not have a port",
        SpiffeIdError.UserInfoNotAllowed => "the trust domain must not have user information",
        SpiffeIdError.QueryOrFragmentNotAllowed => "a query or fragment is not allowed",
        SpiffeIdError.PercentEncodingNotAllowed => "percent-encoding is not allowed",
        SpiffeIdError.InvalidIstioComponent => "an Istio namespace or service account is empty or contains '/'",
        _ => error.ToString(),
    };

    /// <summary>The exception for <paramref name="error"/>, quoting a bounded prefix of the value.</summary>
    internal static SpiffeIdException CreateException(SpiffeIdError error, string? value)
    {
        // Quote at most 128 chars so a 2 KB garbage ID does not flood logs.
        string shown = value is null ? "(null)" : value.Length <= 128 ? value : string.Concat(value.AsSpan(0, 128), "...");
        return new SpiffeIdException(error, $"Invalid SPIFFE ID '{shown}': {Describe(error)} ({error}).");
    }
}
