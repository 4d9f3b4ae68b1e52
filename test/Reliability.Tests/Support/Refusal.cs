using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests.Support;

/// <summary>A create that csshim must refuse: the checks every refusal shares — non-zero exit, the cause on stderr
/// and as an error line of the caller's JSON log, and nothing left on the host.</summary>
public static class Refusal
{
    /// <summary>Runs `csshim [--allow-rootfs-tar-annotation] --log L --log-format json create --bundle B ID` and
    /// returns the result after asserting the refusal; cause is the text the message must contain.</summary>
    public static ProcResult AssertCreateRefused(Sandbox sb, RuntimeUnderTest rt, string bundle, string id, string cause,
        IEnumerable<string>? shimFlags = null, TimeSpan? timeout = null) =>
        AssertRefused(sb, rt, ["create", "--bundle", bundle, id], bundle, id, cause, shimFlags, timeout);

    /// <summary>As <see cref="AssertCreateRefused"/> for any command line (args after the runtime's --root; the log
    /// flags go in front of them).</summary>
    public static ProcResult AssertRefused(Sandbox sb, RuntimeUnderTest rt, IEnumerable<string> args, string bundle, string id,
        string cause, IEnumerable<string>? shimFlags = null, TimeSpan? timeout = null)
    {
        var log = Path.Combine(sb.Logs, $"create-{Guid.NewGuid():N}.log.json");
        var config = File.ReadAllBytes(Path.Combine(bundle, "config.json"));
        sb.Track(rt, id);
        var r = sb.Shim(rt, ["--log", log, "--log-format", "json", .. args],
            shimFlags ?? ["--allow-rootfs-tar-annotation"], timeout: timeout ?? TimeSpan.FromSeconds(60));
        Assert.Multiple(() =>
        {
            Assert.That(r.TimedOut, Is.False, $"{id}: csshim create hung");
            Assert.That(r.Status, Is.Not.Zero, $"{id}: create was accepted: {r}");
            Assert.That(r.Stderr, Does.Contain(cause), $"{id}: stderr does not name the cause");
            Assert.That(LastLogError(log), Does.Contain(cause), $"{id}: the --log JSON error line does not name the cause");
            Assert.That(File.ReadAllBytes(Path.Combine(bundle, "config.json")), Is.EqualTo(config), $"{id}: config.json changed");
        });
        sb.AssertClean(id);
        return r;
    }

    /// <summary>A refusal csshim makes before the runtime is involved: exit status as given, the spy in the runtime's
    /// place never called (nothing forwarded, not even a question), and no file under the state dir (no staging, no
    /// lock, no record) besides what was there before.</summary>
    public static ProcResult AssertRefusedUnforwarded(Sandbox sb, SpyRuntime spy, IEnumerable<string> args, string bundle, string id,
        string cause, int status, IEnumerable<string>? shimFlags = null)
    {
        var stateBefore = StateFiles(sb);
        var r = AssertRefused(sb, spy.Runtime, args, bundle, id, cause, shimFlags);
        Assert.Multiple(() =>
        {
            Assert.That(r.Status, Is.EqualTo(status), $"{id}: exit status: {r}");
            Assert.That(spy.Calls().Select(c => c.ToString()), Is.Empty, $"{id}: the runtime was called");
            Assert.That(StateFiles(sb), Is.EquivalentTo(stateBefore), $"{id}: files appeared under the state dir");
        });
        return r;
    }

    public static List<string> StateFiles(Sandbox sb) =>
        Directory.Exists(sb.StateDir) ? Directory.EnumerateFiles(sb.StateDir, "*", SearchOption.AllDirectories).ToList() : [];

    /// <summary>The msg of the last "level":"error" line, as containerd reports a failed create.</summary>
    public static string LastLogError(string log)
    {
        if (!File.Exists(log)) return "<no log file>";
        var errors = File.ReadLines(log)
            .Select(l => { try { return JObject.Parse(l); } catch (Newtonsoft.Json.JsonException) { return null; } })
            .Where(o => (string?)o?["level"] == "error")
            .ToList();
        return errors.Count == 0 ? "<no error line>" : (string?)errors[^1]!["msg"] ?? "";
    }
}
