using System.Security.Cryptography;

namespace Csshim.Reliability.Tests;

/// <summary>The archive PATH an annotation names is attacker-chosen: csshim (root) must read only a root-owned,
/// not group/world-writable regular file inside the allow-list, never block on a FIFO or read /dev/zero forever,
/// and honour a pinned digest — refusing everything else before anything is staged.</summary>
[TestFixture]
public class ArchivePolicyTests : SandboxFixture
{
    private string allowed = null!, outside = null!;
    private string[] policyFlags = null!;

    [SetUp]
    public void MakeArchives()
    {
        allowed = Path.Combine(sb.Dir, "allowed");
        outside = Path.Combine(sb.Dir, "outside");
        sb.Archive("good", Sandbox.Text("dir/file", "allowed content"), allowed);
        sb.Archive("good", Sandbox.Text("dir/file", "outside content"), outside);
        policyFlags = ["--allow-rootfs-tar-annotation", "--shim-tar-dir", allowed];
    }

    public static IEnumerable<TestCaseData> PathCases()
    {
        // name, how to make the path (sandbox, allowed dir, outside dir) → annotation value, what the message must say
        var cases = new (string Name, Func<Sandbox, string, string, string> Make, string Cause)[]
        {
            ("directory", (_, a, _) => Directory.CreateDirectory(Path.Combine(a, "d.tar")).FullName, "is not a regular file (it is a directory)"),
            ("fifo", (sb, a, _) => MakeFifo(sb, Path.Combine(a, "fifo.tar")), "is not a regular file (it is a FIFO)"),
            ("dev-zero", (_, _, _) => "/dev/zero", "is not a regular file (it is a character device)"),
            ("dangling-symlink", (_, a, _) => Link(Path.Combine(a, "dangling.tar"), "/nonexistent/x.tar"), "No such file or directory"),
            ("symlink-out-of-allow-list", (_, a, o) => Link(Path.Combine(a, "out.tar"), Path.Combine(o, "good.tar")), "outside the allowed directories"),
            ("owned-by-nobody", (sb, a, _) => Chown(sb, Copy(a, "nobody.tar"), "65534:65534"), "owned by uid 65534, not root"),
            ("world-writable", (_, a, _) => Chmod(Copy(a, "ww.tar"), 0b110_100_110), "writable by group or others"),
            ("group-writable", (_, a, _) => Chmod(Copy(a, "gw.tar"), 0b110_110_100), "writable by group or others"),
            ("relative-outside", (_, _, _) => "../../outside/good.tar", "outside the allowed directories"),
            ("relative-dotdot-through-allowed", (_, a, _) => Path.Combine(a, "../outside/good.tar"), "outside the allowed directories"),
            ("missing", (_, a, _) => Path.Combine(a, "missing.tar"), "cannot open rootfs upper archive"),
            ("proc-self-mem", (_, _, _) => "/proc/self/mem", "rootfs upper archive"),
        };
        foreach (var rt in Runtimes.Main)
            foreach (var c in cases)
                yield return new TestCaseData(rt.Name, c.Name, c.Make, c.Cause).SetName($"Path_{c.Name}_{rt.Name}");
    }

    [TestCaseSource(nameof(PathCases))]
    public void Archive_path_outside_policy_is_refused(string runtime, string name, Func<Sandbox, string, string, string> make, string cause)
    {
        var rt = Runtimes.Named(runtime);
        var path = make(sb, allowed, outside);
        var bundle = sb.Bundle(name, ["cat", "/dir/file"], new Dictionary<string, string> { [Sandbox.TarAnnotation] = path });
        // A FIFO nobody writes to would block an open or read forever: the timeout makes a hang a failure.
        Figures.HostileCase("path", name, rt, () =>
            Refusal.AssertCreateRefused(sb, rt, bundle, $"path-{name}", cause, policyFlags, TimeSpan.FromSeconds(20)));
    }

    [TestCase("runc"), TestCase("runsc-2022")]
    public void Annotation_without_the_allow_flag_is_refused(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var bundle = sb.Bundle("noflag", ["cat", "/dir/file"], Annotated(Path.Combine(allowed, "good.tar")));
        Figures.HostileCase("policy", "annotation-without-allow-flag", rt, () =>
            Refusal.AssertCreateRefused(sb, rt, bundle, "noflag", "rootfs tar annotation is disabled, use --allow-rootfs-tar-annotation to enable it", []));
    }

    [TestCase("runc")]
    public void Allow_list_from_the_config_file_is_enforced(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var config = Path.Combine(sb.Dir, "csshim.json");
        File.WriteAllText(config, $$"""{"allowedTarDirs": ["{{allowed}}"], "allowRootfsTarAnnotation": true}""");
        var bundle = sb.Bundle("cfg", ["cat", "/dir/file"], Annotated(Path.Combine(outside, "good.tar")));
        Figures.HostileCase("policy", "config-allow-list", rt, () =>
            Refusal.AssertCreateRefused(sb, rt, bundle, "cfg", "outside the allowed directories", ["--shim-config", config]));
    }

    public static IEnumerable<TestCaseData> DigestCases()
    {
        foreach (var rt in Runtimes.Main)
        {
            yield return new TestCaseData(rt.Name, "digest-mismatch", new string('0', 64), "is pinned").SetName($"Digest_mismatch_{rt.Name}");
            yield return new TestCaseData(rt.Name, "digest-malformed", "not-a-digest", "is not 64 hex digits").SetName($"Digest_malformed_{rt.Name}");
        }
    }

    [TestCaseSource(nameof(DigestCases))]
    public void Pinned_digest_that_does_not_match_fails_with_nothing_staged(string runtime, string name, string pin, string cause)
    {
        var rt = Runtimes.Named(runtime);
        // Big enough that the restore is well under way before the mismatch can be known.
        var archive = sb.Archive("big", new Dictionary<string, byte[]> { ["dir/big"] = RandomNumberGenerator.GetBytes(512 << 10) }, allowed);
        var bundle = sb.Bundle(name, ["cat", "/dir/file"], new Dictionary<string, string>
            { [Sandbox.TarAnnotation] = archive, [Sandbox.DigestAnnotation] = pin });
        Figures.HostileCase("digest", name, rt, () => Refusal.AssertCreateRefused(sb, rt, bundle, name, cause, policyFlags));
    }

    /// <summary>The positive control: with the same policy a proper archive restores, so the refusals above are the
    /// policy's doing and not a broken setup. Also a correct pin (upper case) and a bundle-relative path.</summary>
    [TestCase("runc", false), TestCase("runsc-2022", false), TestCase("runc", true), TestCase("runsc-2022", true)]
    public void Archive_inside_policy_restores(string runtime, bool pinned)
    {
        var rt = Runtimes.Named(runtime);
        var archive = Path.Combine(allowed, "good.tar");
        var annotations = Annotated(pinned ? archive : "../../allowed/good.tar");
        if (pinned) annotations[Sandbox.DigestAnnotation] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(archive)));
        var bundle = sb.Bundle("good", ["cat", "/dir/file"], annotations);
        var id = sb.Track(rt, "good");
        var create = sb.Shim(rt, ["create", "--bundle", bundle, "--pid-file", sb.PidFile(id), id], policyFlags);
        Assert.That(create.Status, Is.Zero, create.ToString());
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        sb.WaitStopped(rt, id);
        Assert.That(Proc.ReadOrEmpty(create.StdoutFile).Trim(), Is.EqualTo("allowed content"));
        var delete = sb.Shim(rt, ["delete", id]);
        Assert.That(delete.Status, Is.Zero, delete.ToString());
        sb.AssertClean("after delete");
    }

    internal static Dictionary<string, string> Annotated(string archive) => new() { [Sandbox.TarAnnotation] = archive };

    private static string MakeFifo(Sandbox sb, string path)
    {
        Proc.Must("/usr/bin/mkfifo", ["-m", "0644", path], sb.Logs);
        return path;
    }

    private static string Link(string path, string target)
    {
        File.CreateSymbolicLink(path, target);
        return path;
    }

    private static string Copy(string allowedDir, string name)
    {
        var path = Path.Combine(allowedDir, name);
        File.Copy(Path.Combine(allowedDir, "good.tar"), path);
        return path;
    }

    private static string Chown(Sandbox sb, string path, string owner)
    {
        Proc.Must("/bin/chown", [owner, path], sb.Logs);
        return path;
    }

    private static string Chmod(string path, int mode)
    {
        File.SetUnixFileMode(path, (UnixFileMode)mode);
        return path;
    }
}
