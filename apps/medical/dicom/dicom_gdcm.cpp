// dicom_gdcm.cpp: the implementation of dicom.h on GDCM, the only C++ in moe-medical. It stays
// thin: GDCM finds, reads, decodes and writes; the C code decides what the values mean. Every
// entry point catches every exception and turns it into an mc_status naming the file; and since
// some malformed files make GDCM fail an assert() (abort), each file is read under a guard that
// turns SIGABRT into an error for that file instead of the end of the process.
//
// GDCM allocates the length an element declares before it reads the value. dicom_lengths.h refuses,
// naming the element, a file whose lengths do not fit it; but GDCM reads a corrupt file by guesses
// (an element without a valid VR as implicit, an item tag out of place, ...) that no outside walk
// follows in every case. So while GDCM reads a file, this program's operator new refuses any single
// allocation above a cap: twice what the file holds (inflated, for the deflated transfer syntax)
// plus 16 MiB, raised to twice the decoded image's size for decoding. The refusal is a bad_alloc
// that the guard reports as the file being corrupt.
#include "dicom.h"
#include "dicom_lengths.h"

#include <csetjmp>
#include <csignal>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gdcmDirectory.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageReader.h>
#include <gdcmImageWriter.h>
#include <gdcmSHA1.h>
#include <gdcmScanner.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmStringFilter.h>
#include <gdcmTrace.h>

namespace {

// GDCM reports problems on std::cerr; ours go through the status and log.h instead.
void quiet() {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
}

sigjmp_buf abort_jump;
volatile sig_atomic_t abort_guarded = 0;

// The allocation cap while GDCM reads (0: none), and whether it refused one.
thread_local size_t alloc_cap = 0;
thread_local bool alloc_refused = false;

constexpr size_t ALLOC_SLACK = (size_t)16 << 20;
// what a refused allocation means, whether GDCM passes the bad_alloc on or only fails
constexpr const char *REFUSED_TEXT = "an element longer than the file holds: truncated or corrupt";

size_t reading_cap(size_t file_bytes) { return 2 * file_bytes + ALLOC_SLACK; }

void on_abort(int) {
    if (abort_guarded) siglongjmp(abort_jump, 1);
}

// Runs fn() (which returns an mc_status) with single allocations capped at cap bytes, SIGABRT turned
// into an MC_ERR_FORMAT for path, and exceptions into MC_ERR_FORMAT too (a refused allocation: the
// file declares more than it holds; MC_ERR_NOMEM for another bad_alloc). What GDCM allocated before
// an abort is lost: that happens only for files that fail its internal checks.
template <class F>
mc_status guarded(const char *path, size_t cap, mc_error *err, F fn) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, &old);
    mc_status st;
    alloc_refused = false;
    if (sigsetjmp(abort_jump, 1) == 0) {
        abort_guarded = 1;
        try {
            alloc_cap = cap;
            st = fn();
        } catch (const std::bad_alloc &) {
            st = alloc_refused ? mc_error_set(err, MC_ERR_FORMAT, "%s: %s", path, REFUSED_TEXT)
                               : mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
        } catch (const std::exception &e) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: %s", path, e.what());
        } catch (...) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: the DICOM library failed on this file", path);
        }
    } else {
        // the jump skipped the destructors of the frames in between: put GDCM's warnings back on stderr
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetWarningStream(std::cerr);
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: malformed DICOM (the DICOM library stopped on an internal check)", path);
    }
    alloc_cap = 0;
    abort_guarded = 0;
    sigaction(SIGABRT, &old, nullptr);
    return st;
}

// Copies v into dst (size bytes), without the padding DICOM adds (spaces, NULs).
void copy_trimmed(char *dst, size_t size, const char *v) {
    dst[0] = '\0';
    if (!v) return;
    while (*v == ' ') v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0')) n--;
    if (n >= size) n = size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

struct field {
    gdcm::Tag tag;
    size_t offset, size;
};

#define MED_FIELD(g, e, member) \
    {gdcm::Tag(g, e), offsetof(med_dicom_header, member), sizeof(((med_dicom_header *)0)->member)}

const field fields[] = {
    MED_FIELD(0x0020, 0x000d, study_uid),        MED_FIELD(0x0020, 0x000e, series_uid),
    MED_FIELD(0x0008, 0x0018, sop_uid),          MED_FIELD(0x0008, 0x0016, sop_class),
    MED_FIELD(0x0002, 0x0010, transfer_syntax),  MED_FIELD(0x0008, 0x0060, modality),
    MED_FIELD(0x0008, 0x0008, image_type),       MED_FIELD(0x0010, 0x0020, patient_id),
    MED_FIELD(0x0008, 0x0020, study_date),       MED_FIELD(0x0020, 0x0011, series_number),
    MED_FIELD(0x0008, 0x103e, series_description), MED_FIELD(0x0008, 0x0070, manufacturer),
    MED_FIELD(0x0020, 0x0032, position),         MED_FIELD(0x0020, 0x0037, orientation),
    MED_FIELD(0x0028, 0x0030, pixel_spacing),    MED_FIELD(0x0018, 0x0050, slice_thickness),
    MED_FIELD(0x0018, 0x1120, gantry_tilt),      MED_FIELD(0x0028, 0x0010, rows),
    MED_FIELD(0x0028, 0x0011, columns),          MED_FIELD(0x0028, 0x0008, frames),
    MED_FIELD(0x0028, 0x0002, samples_per_pixel),
};

#undef MED_FIELD

const size_t n_fields = sizeof fields / sizeof fields[0];

// The text of tag in ds as GDCM renders it (numbers of binary VRs included), or "".
std::string text_of(const gdcm::File &f, const gdcm::Tag &tag) {
    if (!f.GetDataSet().FindDataElement(tag)) return std::string();
    gdcm::StringFilter sf;
    sf.SetFile(f);
    return sf.ToString(tag);
}

double number_or(const std::string &s, double fallback) {
    char *end;
    double v = strtod(s.c_str(), &end);
    return end == s.c_str() ? fallback : v;
}

// Stored sample i of a buffer of bytes-per-sample bps, sign-extended from bits_stored when signed.
double stored_value(const char *buf, size_t i, int bps, int is_signed, int bits_stored) {
    int64_t v;
    if (bps == 1) {
        v = is_signed ? (int64_t)((const int8_t *)buf)[i] : (int64_t)((const uint8_t *)buf)[i];
    } else if (bps == 2) {
        uint16_t u;
        memcpy(&u, buf + 2 * i, 2);
        v = u;
    } else {
        uint32_t u;
        memcpy(&u, buf + 4 * i, 4);
        v = u;
    }
    if (is_signed && bps > 1 && bits_stored > 0 && bits_stored < 8 * bps) {
        int64_t mask = ((int64_t)1 << bits_stored) - 1, sign = (int64_t)1 << (bits_stored - 1);
        v &= mask;
        if (v & sign) v -= (int64_t)1 << bits_stored;
    } else if (is_signed && bps == 2) {
        v = (int16_t)v;
    } else if (is_signed && bps == 4) {
        v = (int32_t)v;
    }
    return (double)v;
}

// The frame header of a JPEG or JPEG-LS stream: sample precision, lines and samples per line.
struct jpeg_frame {
    int precision, rows, cols;
};

// The first start-of-frame marker's header (SOF0-SOF15 but DHT, JPG and DAC; JPEG-LS's SOF55) in the
// first fragment of encapsulated pixel data; false when there is none.
bool jpeg_frame_of(const gdcm::DataElement &pixels, jpeg_frame *f) {
    const gdcm::SequenceOfFragments *sf = pixels.GetSequenceOfFragments();
    if (!sf || sf->GetNumberOfFragments() == 0) return false;
    const gdcm::ByteValue *bv = sf->GetFragment(0).GetByteValue();
    if (!bv || !bv->GetPointer()) return false;
    const unsigned char *b = (const unsigned char *)bv->GetPointer();
    size_t n = bv->GetLength(), i = 2;
    if (n < 2 || b[0] != 0xff || b[1] != 0xd8) return false; // no SOI: GDCM says what is wrong
    while (i + 9 < n && b[i] == 0xff) { // marker segments: FF, marker, 16-bit length, payload
        unsigned m = b[i + 1];
        if (m == 0xff) { // fill byte
            i++;
            continue;
        }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { // markers without a length
            i += 2;
            continue;
        }
        if ((m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) || m == 0xf7) {
            f->precision = b[i + 4];
            f->rows = b[i + 5] << 8 | b[i + 6];
            f->cols = b[i + 7] << 8 | b[i + 8];
            return true;
        }
        if (m == 0xda) break; // a scan before any frame header
        i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
    }
    return false;
}

// GDCM's warnings collected while it lives, instead of printed.
class warning_capture {
  public:
    warning_capture() {
        gdcm::Trace::SetWarningStream(text);
        gdcm::Trace::SetWarning(true);
    }
    ~warning_capture() {
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetWarningStream(std::cerr);
    }
    warning_capture(const warning_capture &) = delete;
    void operator=(const warning_capture &) = delete;
    bool says(const char *what) const { return text.str().find(what) != std::string::npos; }

  private:
    std::ostringstream text;
};

mc_status read_image(const char *path, med_dicom_image *out, mc_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return mc_error_set(err, MC_ERR_IO, "%s: cannot open", path);
    gdcm::ImageReader r;
    r.SetFileName(path);
    // GDCM pads pixel data cut short by the end of the file, and keeps the fragments it could read
    // of compressed data, saying so only in a warning
    warning_capture warnings;
    if (!r.Read())
        return mc_error_set(err, MC_ERR_FORMAT, "%s: %s", path,
                            alloc_refused ? REFUSED_TEXT : "not a readable DICOM image (truncated or corrupt)");
    if (warnings.says("Incomplete Pixel Data") || warnings.says("Fragment could not be read") ||
        warnings.says("Fragment could be corrupted"))
        return mc_error_set(err, MC_ERR_FORMAT, "%s: the pixel data ends before the image does: truncated", path);
    const gdcm::Image &img = r.GetImage();
    const gdcm::PixelFormat &pf = img.GetPixelFormat();
    if (pf.GetSamplesPerPixel() != 1)
        return mc_error_set(err, MC_ERR_UNSUPPORTED, "%s: a colour image (%u samples per pixel), not a grayscale slice",
                            path, (unsigned)pf.GetSamplesPerPixel());
    gdcm::PixelFormat::ScalarType t = pf.GetScalarType();
    if (t == gdcm::PixelFormat::FLOAT16 || t == gdcm::PixelFormat::FLOAT32 || t == gdcm::PixelFormat::FLOAT64 ||
        t == gdcm::PixelFormat::UINT64 || t == gdcm::PixelFormat::INT64 || pf.GetBitsAllocated() > 32)
        return mc_error_set(err, MC_ERR_UNSUPPORTED, "%s: pixel type %s is not supported", path,
                            pf.GetScalarTypeAsString());
    const unsigned *dims = img.GetDimensions();
    size_t cols = dims[0], rows = dims[1], frames = img.GetNumberOfDimensions() > 2 ? dims[2] : 1;
    size_t n = cols * rows * frames;
    if (n == 0 || cols > 65535 || rows > 65535 || frames > 100000)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: image size %zux%zux%zu is not valid", path, cols, rows, frames);
    // uncompressed pixel data shorter than the image: a truncated file (GDCM would pad it)
    const gdcm::Tag pixel_tag(0x7fe0, 0x0010);
    const gdcm::DataSet &ds = r.GetFile().GetDataSet();
    size_t native = pf.GetBitsAllocated() == 1 ? (n + 7) / 8 : n * (pf.GetBitsAllocated() / 8);
    if (!img.GetTransferSyntax().IsEncapsulated() && ds.FindDataElement(pixel_tag)) {
        const gdcm::ByteValue *bv = ds.GetDataElement(pixel_tag).GetByteValue();
        if (bv && bv->GetLength() < native)
            return mc_error_set(err, MC_ERR_FORMAT, "%s: pixel data has %u bytes, the image needs %zu: truncated", path,
                                (unsigned)bv->GetLength(), native);
    }
    size_t len = img.GetBufferLength();
    if (len > ((size_t)1 << 31))
        return mc_error_set(err, MC_ERR_FORMAT, "%s: an image of %zu bytes (%zux%zux%zu) is beyond any CT slice", path,
                            len, cols, rows, frames);
    bool bits = pf.GetBitsAllocated() == 1 && len * 8 >= n && len == (n + 7) / 8;
    if (!bits && (len == 0 || len % n != 0 || (len / n != 1 && len / n != 2 && len / n != 4)))
        return mc_error_set(err, MC_ERR_FORMAT, "%s: pixel data of %zu bytes does not fit %zux%zux%zu pixels", path,
                            len, cols, rows, frames);
    // The JPEG and JPEG-LS stream must describe the image: samples of 2 to 16 bits, no more than
    // allocated (GDCM's JPEG decoder dereferences a null pointer otherwise), and the image's size
    // (CharLS takes seconds on a frame that does not fit its buffer)
    const gdcm::TransferSyntax::TSType ts = img.GetTransferSyntax();
    jpeg_frame jf;
    if ((ts == gdcm::TransferSyntax::JPEGBaselineProcess1 || ts == gdcm::TransferSyntax::JPEGExtendedProcess2_4 ||
         ts == gdcm::TransferSyntax::JPEGLosslessProcess14 || ts == gdcm::TransferSyntax::JPEGLosslessProcess14_1 ||
         ts == gdcm::TransferSyntax::JPEGLSLossless || ts == gdcm::TransferSyntax::JPEGLSNearLossless) &&
        ds.FindDataElement(pixel_tag) && jpeg_frame_of(ds.GetDataElement(pixel_tag), &jf)) {
        if (jf.precision < 2 || jf.precision > 16 || jf.precision > (int)pf.GetBitsAllocated())
            return mc_error_set(err, MC_ERR_FORMAT, "%s: the JPEG stream declares %d-bit samples where the image allocates %u: corrupt",
                                path, jf.precision, (unsigned)pf.GetBitsAllocated());
        if ((size_t)jf.cols != cols || (jf.rows != 0 && (size_t)jf.rows != rows))
            return mc_error_set(err, MC_ERR_FORMAT, "%s: the JPEG stream's frame is %d x %d where the image is %zu x %zu: corrupt",
                                path, jf.cols, jf.rows, cols, rows);
    }
    alloc_cap = std::max(alloc_cap, 2 * len + ALLOC_SLACK); // decoding: buffers of the image's size
    std::vector<char> buf(len);
    if (!img.GetBuffer(buf.data()))
        return mc_error_set(err, MC_ERR_FORMAT, "%s: pixel data cannot be decoded (transfer syntax %s): truncated or corrupt",
                            path, gdcm::TransferSyntax::GetTSString(img.GetTransferSyntax()));
    std::string slope_s = text_of(r.GetFile(), gdcm::Tag(0x0028, 0x1053));
    std::string icpt_s = text_of(r.GetFile(), gdcm::Tag(0x0028, 0x1052));
    out->cols = (int)cols;
    out->rows = (int)rows;
    out->frames = (int)frames;
    out->bits_allocated = pf.GetBitsAllocated();
    out->bits_stored = pf.GetBitsStored();
    out->is_signed = pf.GetPixelRepresentation() == 1;
    out->inverted = img.GetPhotometricInterpretation() == gdcm::PhotometricInterpretation::MONOCHROME1;
    out->slope = number_or(slope_s, 1.0);
    out->intercept = number_or(icpt_s, 0.0);
    out->values = (float *)malloc(n * sizeof(float));
    if (!out->values) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    int bps = bits ? 0 : (int)(len / n);
    // GDCM byte-swaps big-endian pixel data in 16-bit words, which leaves the two halves of a 32-bit
    // sample in the wrong order
    if (bps == 4 && img.GetTransferSyntax().GetSwapCode() == gdcm::SwapCode::BigEndian)
        for (size_t i = 0; i < n; i++) std::rotate(buf.begin() + 4 * i, buf.begin() + 4 * i + 2, buf.begin() + 4 * i + 4);
    for (size_t i = 0; i < n; i++) {
        double v = bits ? (double)((buf[i / 8] >> (i % 8)) & 1)  // 1-bit pixels, least significant bit first
                        : stored_value(buf.data(), i, bps, out->is_signed, out->bits_stored);
        out->values[i] = (float)(v * out->slope + out->intercept);
    }
    return MC_OK;
}

// A text element, padded to even length as DICOM requires (UIDs with NUL, the rest with space).
void put(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR vr, const std::string &v) {
    std::string s = v;
    if (s.size() % 2) s += vr == gdcm::VR::UI ? '\0' : ' ';
    gdcm::DataElement de(gdcm::Tag(g, e));
    de.SetVR(vr);
    de.SetByteValue(s.data(), (uint32_t)s.size());
    ds.Replace(de);
}

void put_if(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR vr, const char *v) {
    if (v) put(ds, g, e, vr, v);
}

std::string fmt(const char *f, double v) {
    char b[64];
    snprintf(b, sizeof b, f, v);
    return b;
}

const gdcm::TransferSyntax::TSType codec_ts[MED_CODEC_COUNT] = {
    gdcm::TransferSyntax::ExplicitVRLittleEndian, gdcm::TransferSyntax::ImplicitVRLittleEndian,
    gdcm::TransferSyntax::RLELossless,           gdcm::TransferSyntax::JPEGLSLossless,
    gdcm::TransferSyntax::JPEGLosslessProcess14_1, gdcm::TransferSyntax::JPEG2000Lossless,
};

mc_status write_slice(const char *path, const med_dicom_slice *s, mc_error *err) {
    if (s->codec < 0 || s->codec >= MED_CODEC_COUNT || s->rows <= 0 || s->cols <= 0 || !s->pixels)
        return mc_error_set(err, MC_ERR_ARG, "%s: invalid slice", path);
    gdcm::SmartPointer<gdcm::Image> im = new gdcm::Image;
    im->SetNumberOfDimensions(2);
    im->SetDimension(0, (unsigned)s->cols);
    im->SetDimension(1, (unsigned)s->rows);
    im->SetPixelFormat(gdcm::PixelFormat(s->is_unsigned ? gdcm::PixelFormat::UINT16 : gdcm::PixelFormat::INT16));
    im->SetPhotometricInterpretation(gdcm::PhotometricInterpretation::MONOCHROME2);
    im->SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
    for (unsigned a = 0; a < 3; a++) im->SetOrigin(a, s->position[a]);
    im->SetDirectionCosines(s->orientation);
    im->SetSpacing(0, s->pixel_spacing[1]);
    im->SetSpacing(1, s->pixel_spacing[0]);
    im->SetIntercept(s->intercept);
    im->SetSlope(s->slope);
    gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
    pixels.SetByteValue((const char *)s->pixels, (uint32_t)((size_t)s->rows * (size_t)s->cols * 2));
    im->SetDataElement(pixels);

    gdcm::ImageWriter w;
    gdcm::DataSet &ds = w.GetFile().GetDataSet();
    put(ds, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.2"); // CT Image Storage
    put_if(ds, 0x0008, 0x0018, gdcm::VR::UI, s->sop_uid);
    put(ds, 0x0008, 0x0008, gdcm::VR::CS, "ORIGINAL\\PRIMARY\\AXIAL");
    put(ds, 0x0008, 0x0060, gdcm::VR::CS, "CT");
    put_if(ds, 0x0008, 0x0020, gdcm::VR::DA, s->study_date);
    put_if(ds, 0x0008, 0x0030, gdcm::VR::TM, s->study_time);
    put_if(ds, 0x0008, 0x0070, gdcm::VR::LO, s->manufacturer);
    put_if(ds, 0x0008, 0x103e, gdcm::VR::LO, s->series_description);
    put_if(ds, 0x0010, 0x0010, gdcm::VR::PN, s->patient_name);
    put_if(ds, 0x0010, 0x0020, gdcm::VR::LO, s->patient_id);
    put_if(ds, 0x0010, 0x0030, gdcm::VR::DA, s->patient_birth_date);
    put_if(ds, 0x0010, 0x0040, gdcm::VR::CS, s->patient_sex);
    put_if(ds, 0x0010, 0x1010, gdcm::VR::AS, s->patient_age);
    put(ds, 0x0018, 0x0050, gdcm::VR::DS, fmt("%.6g", s->slice_thickness));
    if (s->kvp > 0) put(ds, 0x0018, 0x0060, gdcm::VR::DS, fmt("%.0f", s->kvp));
    put_if(ds, 0x0020, 0x000d, gdcm::VR::UI, s->study_uid);
    put_if(ds, 0x0020, 0x000e, gdcm::VR::UI, s->series_uid);
    put_if(ds, 0x0020, 0x0052, gdcm::VR::UI, s->frame_of_reference_uid);
    put(ds, 0x0020, 0x0011, gdcm::VR::IS, std::to_string(s->series_number));
    put(ds, 0x0020, 0x0013, gdcm::VR::IS, std::to_string(s->instance_number));
    // Slice Location, which readers must not trust for ordering: the position on the z axis.
    put(ds, 0x0020, 0x1041, gdcm::VR::DS, fmt("%.4f", s->position[2]));
    put(ds, 0x0028, 0x1050, gdcm::VR::DS, "-600");
    put(ds, 0x0028, 0x1051, gdcm::VR::DS, "1500");

    if (s->codec == MED_CODEC_EXPLICIT_LE) {
        w.SetImage(*im);
    } else {
        gdcm::ImageChangeTransferSyntax change;
        change.SetTransferSyntax(codec_ts[s->codec]);
        change.SetInput(*im);
        if (!change.Change())
            return mc_error_set(err, MC_ERR_UNSUPPORTED, "%s: GDCM cannot encode %s", path, med_dicom_codec_name(s->codec));
        w.SetImage(change.GetOutput());
    }
    w.SetFileName(path);
    if (!w.Write()) return mc_error_set(err, MC_ERR_IO, "%s: cannot write", path);
    return MC_OK;
}

// Whether the file has the Part 10 preamble and "DICM" prefix.
bool has_dicom_magic(const std::string &path) {
    FILE *f = fopen(path.c_str(), "rb");
    if (!f) return false;
    char b[132];
    bool yes = fread(b, 1, sizeof b, f) == sizeof b && memcmp(b + 128, "DICM", 4) == 0;
    fclose(f);
    return yes;
}

mc_status scan(const char *const *paths, int n, med_dicom_header **out, int *n_out, int *n_other, mc_error *err) {
    gdcm::Directory::FilenamesType files;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return mc_error_set(err, MC_ERR_IO, "%s: no such file or folder", paths[i]);
        if (S_ISDIR(st.st_mode)) {
            gdcm::Directory d;
            d.Load(paths[i], true);
            for (const std::string &f : d.GetFilenames()) files.push_back(f);
        } else {
            files.push_back(paths[i]);
        }
    }
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
    *n_other = 0;
    *n_out = 0;
    *out = (med_dicom_header *)calloc(files.empty() ? 1 : files.size(), sizeof(med_dicom_header));
    if (!*out) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    for (const std::string &f : files) {
        med_dicom_header h;
        memset(&h, 0, sizeof h);
        mc_error ferr;
        bool key = false;
        // GDCM reads only files whose declared lengths fit them (dicom_lengths.h); one Scanner per
        // file, so that a file GDCM stops on costs only itself
        size_t holds = 0;
        mc_status lengths = med_dicom_check_lengths(f.c_str(), &holds, &ferr);
        if (lengths == MC_OK) guarded(f.c_str(), reading_cap(holds), &ferr, [&]() {
            gdcm::Scanner sc;
            for (size_t i = 0; i < n_fields; i++) sc.AddTag(fields[i].tag);
            gdcm::Directory::FilenamesType one(1, f);
            if (!sc.Scan(one) || !sc.IsKey(f.c_str())) return MC_OK;
            key = true;
            for (size_t i = 0; i < n_fields; i++)
                copy_trimmed((char *)&h + fields[i].offset, fields[i].size, sc.GetValue(f.c_str(), fields[i].tag));
            return MC_OK;
        });
        if (!key && !has_dicom_magic(f)) {
            (*n_other)++;
            continue;
        }
        if (!key) {
            memset(&h, 0, sizeof h);
            h.unreadable = 1;
            // the walk's reason without the path that starts it
            const char *why = lengths == MC_OK && alloc_refused ? REFUSED_TEXT : "a DICOM file that cannot be parsed: truncated or corrupt";
            if (lengths != MC_OK && strncmp(ferr.msg, f.c_str(), f.size()) == 0 && ferr.msg[f.size()] == ':')
                why = ferr.msg + f.size() + 2;
            copy_trimmed(h.problem, sizeof h.problem, why);
        }
        if (!(h.path = strdup(f.c_str()))) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        (*out)[(*n_out)++] = h;
    }
    return MC_OK;
}

} // namespace

extern "C" {

// gcc says it builds with AddressSanitizer by __SANITIZE_ADDRESS__, clang by __has_feature
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MED_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(MED_ASAN)
// In sanitizer builds: the allocations GDCM made for a file it aborted on are left behind by design
// (guarded() above), so LeakSanitizer is told not to report leaks made under guarded().
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:guarded<\n"; }
#endif

mc_status med_dicom_scan(const char *const *paths, int n, med_dicom_header **out, int *n_out, int *n_other,
                         mc_error *err) {
    *out = NULL;
    *n_out = *n_other = 0;
    quiet();
    mc_status st;
    try {
        st = scan(paths, n, out, n_out, n_other, err);
    } catch (const std::bad_alloc &) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    } catch (...) {
        st = mc_error_set(err, MC_ERR_INTERNAL, "%s: listing the files failed", n > 0 ? paths[0] : "");
    }
    if (st != MC_OK) {
        med_dicom_headers_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
    }
    return st;
}

void med_dicom_headers_free(med_dicom_header *h, int n) {
    if (!h) return;
    for (int i = 0; i < n; i++) free(h[i].path);
    free(h);
}

mc_status med_dicom_read_image(const char *path, med_dicom_image *out, mc_error *err) {
    memset(out, 0, sizeof *out);
    quiet();
    size_t holds = 0;
    mc_status st = med_dicom_check_lengths(path, &holds, err);
    if (st == MC_OK) st = guarded(path, reading_cap(holds), err, [&]() { return read_image(path, out, err); });
    if (st != MC_OK) med_dicom_image_free(out);
    return st;
}

void med_dicom_image_free(med_dicom_image *img) {
    if (!img) return;
    free(img->values);
    img->values = NULL;
}

mc_status med_dicom_write_slice(const char *path, const med_dicom_slice *s, mc_error *err) {
    quiet();
    try {
        return write_slice(path, s, err);
    } catch (const std::exception &e) {
        return mc_error_set(err, MC_ERR_IO, "%s: %s", path, e.what());
    } catch (...) {
        return mc_error_set(err, MC_ERR_IO, "%s: the DICOM writer failed", path);
    }
}

const char *med_dicom_codec_uid(med_dicom_codec c) {
    if (c < 0 || c >= MED_CODEC_COUNT) return "";
    return gdcm::TransferSyntax::GetTSString(codec_ts[c]);
}

const char *med_dicom_codec_name(med_dicom_codec c) {
    static const char *const names[MED_CODEC_COUNT] = {"explicit-le", "implicit-le", "rle", "jpeg-ls",
                                                       "jpeg-lossless", "jpeg2000"};
    return c >= 0 && c < MED_CODEC_COUNT ? names[c] : "";
}

mc_status med_dicom_sha1_hex(const void *data, size_t n, char hex[41]) {
    try {
        if (!gdcm::SHA1::Compute((const char *)data, (unsigned long)n, hex))
            return MC_ERR_UNSUPPORTED;
        return MC_OK;
    } catch (...) {
        return MC_ERR_INTERNAL;
    }
}

} // extern "C"

// The program's operator new and delete (replacing the C++ library's for the whole program, as the
// standard allows): malloc and free, with the cap above while GDCM reads. Aligned forms are left to
// the library, which pairs them itself.
void *operator new(std::size_t n) {
    if (alloc_cap && n > alloc_cap) {
        alloc_refused = true;
        throw std::bad_alloc();
    }
    void *p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void *operator new[](std::size_t n) { return operator new(n); }

void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    try {
        return operator new(n);
    } catch (...) {
        return nullptr;
    }
}

void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return operator new(n, std::nothrow); }

void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
