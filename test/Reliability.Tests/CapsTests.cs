using System.Diagnostics;
using System.Formats.Tar;

namespace Csshim.Reliability.Tests;

/// <summary>
/// The caps on a container's upper cannot be switched off: tmpfs reads `size=0` and `nr_inodes=0` as "no limit" and
/// more than 100% of RAM is no cap either, so such values are refused wherever they come from (a flag: usage error,
/// exit 2; the config file: exit 1, naming the file). The layer tmpfs always carries an inode cap, a flood of empty
/// files stops at it, and the entry budget of a restore counts the parent directories the restore creates.
/// </summary>
[TestFixture]
public class CapsTests : SandboxFixture
{
    private static readonly string[] Allow = ["--allow-rootfs-tar-annotation"];

    private const string SizeOff = "0 would switch the cap off (tmpfs reads 0 as no limit): give a size above 0";
    private const string InodesOff = "0 would switch the inode cap off (tmpfs reads 0 as no limit): give a number above 0";

    /// <summary>value, why it is refused; the last two overflow 64 bits once the unit is applied (the kernel's
    /// memparse wraps them to 0, which is tmpfs's "no limit").</summary>
    private static readonly (string Value, string Cause)[] BadSizes =
    [
        ("0", SizeOff), ("0%", SizeOff), ("0k", SizeOff), ("150%", "more than all of RAM: give at most 100%"),
        ("-1g", "negative: give a size above 0"), ("17179869184g", "too large"), ("17592186044416m", "too large"),
    ];

    public static IEnumerable<TestCaseData> SizeFlagCases()
    {
        foreach (var (value, cause) in BadSizes)
            foreach (var rt in value.Length < 5 ? [RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022] : new[] { RuntimeUnderTest.Runc })
                yield return new TestCaseData(rt, value, cause).SetName($"Upper_size_flag_{value}_is_refused_{rt}");
    }

    [TestCaseSource(nameof(SizeFlagCases))]
    public void Upper_size_flag_that_would_switch_the_cap_off_is_refused(string runtime, string value, string cause) =>
        AssertSettingRefused(runtime, [.. Allow, "--shim-upper-size", value], $"--shim-upper-size \"{value}\": {cause}", 2);

    public static IEnumerable<TestCaseData> SizeConfigCases() =>
        BadSizes.Select(b => new TestCaseData(RuntimeUnderTest.Runc, b.Value, b.Cause).SetName($"Upper_size_config_{b.Value}_is_refused_runc"));

    [TestCaseSource(nameof(SizeConfigCases))]
    public void Upper_size_in_the_config_file_that_would_switch_the_cap_off_is_refused(string runtime, string value, string cause)
    {
        var config = ConfigFile($$"""{"upperSize": "{{value}}", "allowRootfsTarAnnotation": true}""");
        AssertSettingRefused(runtime, ["--shim-config", config], $"config {config}: \"upperSize\" \"{value}\": {cause}", 1);
    }

    [TestCase("runc", "0", InodesOff), TestCase("runsc-2022", "0", InodesOff), TestCase("runc", "-1", "give a whole number above 0")]
    public void Inode_cap_flag_that_would_switch_the_cap_off_is_refused(string runtime, string value, string cause) =>
        AssertSettingRefused(runtime, [.. Allow, "--shim-upper-inodes", value], $"--shim-upper-inodes \"{value}\": {cause}", 2);

    [Test]
    public void Inode_cap_of_zero_in_the_config_file_is_refused()
    {
        var config = ConfigFile("""{"upperInodes": 0, "allowRootfsTarAnnotation": true}""");
        AssertSettingRefused(RuntimeUnderTest.Runc, ["--shim-config", config], $"config {config}: \"upperInodes\" \"0\": {InodesOff}", 1);
    }

    private string ConfigFile(string json)
    {
        var path = Path.Combine(sb.Dir, $"csshim-{Guid.NewGuid():N}.json"[..20]);
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>A restoring create with the setting: refused with the message and status, nothing made or forwarded.</summary>
    private void AssertSettingRefused(string runtime, string[] shimFlags, string message, int status)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var bundle = sb.Bundle("capped", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(sb.Archive("a", Sandbox.Text("dir/file", "x"))));
        Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "capped"], bundle, "capped", message, status, shimFlags);
    }

    // ---- the inode cap on the layer tmpfs ----

    public static IEnumerable<TestCaseData> InodeCapCases()
    {
        yield return new TestCaseData(new[] { "--shim-upper-size", "64m" }, null, 4096L).SetName("Layer_inode_cap_64m_is_4096");
        yield return new TestCaseData(new[] { "--shim-upper-size", "1m" }, null, 1024L).SetName("Layer_inode_cap_has_a_floor_of_1024");
        yield return new TestCaseData(new[] { "--shim-upper-size", "64m", "--shim-upper-inodes", "5000" }, null, 5000L).SetName("Layer_inode_cap_from_the_flag");
        yield return new TestCaseData(Array.Empty<string>(), """{"upperSize": "64m", "upperInodes": 3000}""", 3000L).SetName("Layer_inode_cap_from_the_config_file");
        yield return new TestCaseData(Array.Empty<string>(), """{"upperSize": "32m"}""", 2048L).SetName("Layer_inode_cap_from_the_config_size");
        yield return new TestCaseData(Array.Empty<string>(), null, Math.Max(1024, MemTotalBytes() / 100 * 50 / (16 * 1024))).SetName("Layer_inode_cap_of_the_default_size");
    }

    [TestCaseSource(nameof(InodeCapCases))]
    public void Layer_tmpfs_carries_an_inode_cap(string[] flags, string? config, long inodes)
    {
        var rt = Runtimes.Runc;
        string[] shimFlags = config is null ? flags : [.. flags, "--shim-config", ConfigFile(config)];
        var id = sb.Track(rt, "capped");
        var create = sb.Shim(rt, ["create", "--bundle", sb.Bundle("capped", ["sleep", "1000"]), id], shimFlags);
        Assert.That(create.Status, Is.Zero, create.ToString());
        var options = HostState.MountOptions(Path.Combine(sb.StagingOf(id), "layer")).Split(' ', ',');
        Assert.That(options, Does.Contain($"nr_inodes={inodes}"), "the layer tmpfs's mount options");
        Lifecycle.DeleteAndAssertClean(sb, rt, id);
    }

    private static long MemTotalBytes() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    /// <summary>A million empty files against the inode cap: refused naming that cap (not the size cap, which they
    /// never reach), well before the archive's end, with nothing left.</summary>
    [TestCase("runc", new[] { "--shim-upper-size", "64m" }, 4096)]
    [TestCase("runsc-2022", new[] { "--shim-upper-size", "64m" }, 4096)]
    [TestCase("runc", new[] { "--shim-upper-size", "1g", "--shim-upper-inodes", "2000" }, 2000)]
    public void Million_empty_files_stop_at_the_inode_cap(string runtime, string[] caps, int cap)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var flood = InodeFlood.Archive();
        var bundle = sb.Bundle("flood", ["true"], ArchivePolicyTests.Annotated(flood));
        var clock = Stopwatch.StartNew();
        Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "flood"], bundle, "flood",
            $"the upper's inode cap of {cap} is reached", 1, [.. Allow, .. caps]);
        Figures.Write("inode-flood", ("runtime", spy.Real), ("cap", cap), ("files", InodeFlood.Files), ("seconds", clock.Elapsed.TotalSeconds.ToString("F1")));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "the refusal took too long: the restore went on past the cap");
    }

    // ---- the entry budget counts the parent directories a restore creates ----

    /// <summary>One entry, ./a/b/c/d/file, and no directory entries: its restore creates five inodes.</summary>
    private string DeepArchive()
    {
        var path = Path.Combine(sb.Dir, "archives", "deep.tar");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var file = File.Create(path))
        using (var writer = new TarWriter(file, TarEntryFormat.Pax))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "./a/b/c/d/file")
            {
                DataStream = new MemoryStream("deep"u8.ToArray()),
                Mode = (UnixFileMode)0b110_100_100,
            });
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        return path;
    }

    [TestCase("runc"), TestCase("runsc-2022")]
    public void Entry_budget_of_4_refuses_a_file_with_4_implied_parents(string runtime)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var bundle = sb.Bundle("deep", ["cat", "/a/b/c/d/file"], ArchivePolicyTests.Annotated(DeepArchive()));
        Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "deep"], bundle, "deep", "entry budget", 1,
            [.. Allow, "--shim-max-entries", "4"]);
    }

    [TestCase("runc"), TestCase("runsc-2022")]
    public void Entry_budget_of_5_restores_a_file_with_4_implied_parents(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var bundle = sb.Bundle("deep", ["cat", "/a/b/c/d/file"], ArchivePolicyTests.Annotated(DeepArchive()));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "deep", [.. Allow, "--shim-max-entries", "5"]), Is.EqualTo("deep"));
        Lifecycle.DeleteAndAssertClean(sb, rt, "deep");
    }
}
