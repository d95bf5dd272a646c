namespace Hbone.Http2;

/// <summary>The range checks RFC 9113 §6.5.2 puts on a peer's SETTINGS values, shared by the client and the server engine.</summary>
internal static class PeerSettingRules
{
    /// <summary>Throws the connection error a value out of its range calls for; other settings pass unchecked.</summary>
    public static void Validate(ushort id, uint value)
    {
        switch (id)
        {
            case SettingId.EnablePush when value > 1:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "SETTINGS_ENABLE_PUSH must be 0 or 1.");
            case SettingId.InitialWindowSize when value > int.MaxValue:
                throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1.");
            case SettingId.MaxFrameSize when value is < FrameHeader.MinMaxFrameSize or > FrameHeader.MaxMaxFrameSize:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {value} out of range.");
        }
    }
}
