#!/usr/bin/env python3
"""A test double of tomocupy 1.1.0 (git tag v1.1.0) for wrappers: ``python fake_tomocupy.py recon ...``.

Everything a wrapper can observe is ported from tomocupy's source at tag v1.1.0 (file/function
named per item); only the numbers in the images come from tomocupy-gladier's CPU engine
(:mod:`tomocupy_gladier.engine`: ``reader.bin_sum``-equivalent downsampling, ``preprocess``,
``stripes``, ``fbp.FourierRec``, ``center.find_center_vo``), so image sharpness really depends
on the centre.

- Command line (``__main__.main``, ``config.parse_known_args``, ``config.config_to_list``,
  ``config.Params``): argparse sub-commands ``init``/``recon``/``recon_steps``/``status`` built
  from tomocupy-gladier's vendored option table (``tomocupy_gladier/data/tomocupy-options.json``,
  which was taken from tomocupy's main branch) with the v1.1.0 differences put back (see
  ``_V110``: no zarr, no large-data/FF* options, fewer phase methods).  ``parse_known_args``:
  unknown options and stray words are silently ignored; a bad value or choice is an argparse
  error (usage on stderr, exit 2); option prefixes are accepted (``--out-path`` =
  ``--out-path-name``).  ``~/tomocupyon.conf`` (or ``--config FILE``) is read as INI and its
  entries are put *before* the command line.  "Booleans" ``--clear-folder``, ``--minus-log``,
  ``--flat-linear``, ``--pre-processing`` are the strings True/False; ``--verbose``,
  ``--fw-pad``, ``--config-update``, ``--read-scintillator``, ``--read-pixel-size`` are
  store_true flags.  No sub-command: help on stderr, exit 1.
- Start-up order (``__main__.main``): parse, CUDA initialisation (no GPU: traceback, exit 1),
  ``makedirs(logs-home)``, log file ``<logs-home>/tomocupyfp16on_<date>.log``, then
  ``Reader()`` (sizes; a missing input file fails HERE inside h5py with a traceback and exit 1,
  so ``run_rec``'s "File Name does not exist" + ``exit()`` (status 0) is dead code), then
  ``Writer()`` (creates the output folder) and only then ``run_rec``/``run_recsteps``.
  ``RuntimeError`` -> ``log.error`` + exit 1; any other exception -> traceback, exit 1.
- Logging (``logging.setup_custom_logger``, ``ColoredLogFormatter``): stderr,
  ``'%(asctime)s - %(message)s'`` with the message wrapped in ANSI colours (INFO green
  ``\\033[92m``, WARNING yellow ``\\033[33m``, ERROR red ``\\033[91m``, reset ``\\033[0m``);
  DEBUG only with ``--verbose``.  The progress bar (``utils.printProgressBar``) goes to stdout.
- Sizes and try centres (``dataio/reader.py``: ``Reader.init_sizes``, ``init_sizes_try``):
  end-row/-column/-proj defaults, width cut to a multiple of ``2**(binning+1)``, ``centeri``,
  ``st_n``, float16 crop, blocked views, chunking, ``id_slices`` from ``--nsino``,
  ``shift_array`` and ``save_centers`` (computed here, i.e. BEFORE any automatic axis search:
  tomocupy issue #76).  ``/exchange/theta`` is required (v1.1.0 has no fallback: KeyError,
  exit 1).
- Output (``dataio/writer.py``: ``Writer.init_output_files_try``, ``init_output_files``,
  ``write_data_chunk``, ``write_data_try``, ``write_meta``; ``config.update_hdf_process``):
  try -> ``dirname(f)+'_rec/try_center/'+basename(f)[:-3]`` (or ``--out-path-name``),
  ``recon_slice{id:04d}_center{c:05.2f}.tiff`` whatever ``--save-format``; full ->
  ``dirname(f)+'_rec/'+basename(f)[:-3]+'_rec'`` (or ``--out-path-name``), always created as a
  folder; tiff ``recon_{fid:05}.tiff`` + ``rec_line.txt``; h5 ``<base>.h5`` (virtual dataset)
  + ``<base>_parts/pNNNN.h5``; h5nolinks ``<base>.h5``; h5sino ``<base>.h5`` +
  ``<base>_parts``.  ``--clear-folder True``: ``rm <base>/recon*`` (try) or ``rm <base>/*``
  (full), no ``-r``.  ``Output: <path>`` is logged (try and tiff: the ``.../recon`` prefix).
- Runs (``__main__.run_rec``/``run_recsteps``, ``rec.GPURec.recon_all``/``recon_try``,
  ``reconstruction/backproj_parallel.py`` ``recon_try_sino_parallel`` for recon_steps):
  full file ids ``st = k*ncz + start_row//2**binning``; try reads raw rows
  ``[id_slice, id_slice + 2**binning)`` in ``recon`` (``Reader.read_data_try`` ignores
  --start-row) and binned row ``id_slice//2**binning`` of the ``[start_row, end_row)`` block
  in ``recon_steps``.  Centre used for image k: ``params.center - shift_array[k]``
  (``backproj_functions.fbp_filter_center``).  Log lines ``set rotaion  axis A`` (auto only),
  ``Reconstruction time {t:.1e}s`` (recon) / ``{t:.01f}s`` (recon_steps).
- Automatic axis (``find_center.FindCenter``; v1.1.0 defines ``find_center_sift`` twice, the
  second one wins): sift returns ``mean(n//2 - shift/2 + st_n) * 2**b`` and ``find_center``
  multiplies by ``2**b`` again; vo returns the binned column in the cropped frame times
  ``2**b``.  ``run_rec`` then sets ``params.center = A`` although ``params.center`` is in
  binned, cropped pixels.  The fake finds the axis with the engine's Vo search on the binned
  sinogram of row ``id_slices[0]`` (sift: the registration's ``n//2`` adds half a binned
  pixel) and applies the same formulas.  Consequence (issue #76), in tomocupy's full-resolution
  label units: image labelled ``L`` was reconstructed around
  ``L + A*2**b - (R0 - start_column)``, ``R0`` = ``--rotation-axis`` (or detector width / 2
  when -1).  SIFT without matches prints ``no features found`` and ``exit()`` -> status 0.
- Writer threads (``utils.WRThread``, ``find_free_thread``): up to ``--max-write-threads``
  threads; an exception in one is printed by Python's ``threading.excepthook``
  (``Exception in thread ...`` + traceback on stderr) and the process still exits 0.
- Signals (``utils.signal_handler``, installed by ``GPURec.__init__``): SIGINT/SIGTERM print
  ``Abort`` (stdout) and exit 1.

Not reproduced (refused with exit 1 and a message saying so, after the folders are made):
``--file-type double_fov``, laminography (``--lamino-angle`` != 0, ``try_lamino``), full
``--save-format h5sino``.  Phase retrieval, projection rotation
and beam hardening do not change the (approximate) images.

Knobs (environment):

- ``FAKE_TOMOCUPY_RECORD=PATH``: append ``json(argv[1:])`` to PATH and
  ``{"CUDA_VISIBLE_DEVICES": ...}`` to ``PATH.env`` on every call (before anything else).
- ``FAKE_TOMOCUPY_WRITER_FAIL=n``: the n-th (1-based) and later writes raise
  ``OSError(28, 'No space left on device')`` inside the writer thread; a write is one call of
  ``write_data_chunk`` (a chunk of ``--nsino-per-chunk`` rows) or ``write_data_try`` (one image).
- ``FAKE_TOMOCUPY_NOTHING=1``: log the start-up lines, write nothing, exit 0.
- ``FAKE_TOMOCUPY_HANG=seconds``: sleep after the output is set up (SIGTERM -> ``Abort``, 1).
- ``FAKE_TOMOCUPY_CRASH=n``: after n writes have been handed to the writers, the main thread
  raises a cupy-like ``OutOfMemoryError`` (traceback, exit 1; partial output stays).
- ``FAKE_TOMOCUPY_NO_GPU=1`` (also ``CUDA_VISIBLE_DEVICES`` = "" or "-1"): CUDA start-up fails
  (traceback, exit 1) before anything is written.
- ``FAKE_TOMOCUPY_FOUND_AXIS=A``: what the automatic search returns (skips the search).
- ``FAKE_TOMOCUPY_SIFT_NO_FEATURES=1``: the SIFT search finds no matches.
"""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import os
import signal
import sys
import time
from ast import literal_eval
from datetime import datetime
from pathlib import Path
from queue import Queue
from threading import Event, Lock, Thread

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

__version__ = "1.1.0"
ENV = "FAKE_TOMOCUPY_"

# --------------------------------------------------------------------------------------------
# config.py


def positive_int(value):
    """utils.positive_int"""
    result = int(value)
    if result < 0:
        raise argparse.ArgumentTypeError('Only positive integers are allowed')
    return result


#: tomocupy v1.1.0 versus the option table (taken from tomocupy's main branch)
_V110 = {
    "drop": {"FFdim", "FFlog", "FFpad", "FFratio", "large-data", "ldchunk", "zarr-chunk",
             "zarr-compression"},
    "choices": {"save-format": ["tiff", "h5", "h5sino", "h5nolinks"],
                "retrieve-phase-method": ["none", "paganin", "Gpaganin"]},
    "section": {"dtype": "reconstruction", "save-format": "reconstruction",
                "clear-folder": "reconstruction"},
}
RECON_PARAMS = ('file-reading', 'remove-stripe', 'reconstruction', 'fw', 'ti', 'vo-all', 'lamino',
                'reconstruction-types', 'beam-hardening')
RECON_STEPS_PARAMS = ('file-reading', 'remove-stripe', 'reconstruction', 'retrieve-phase', 'fw',
                      'ti', 'vo-all', 'lamino', 'reconstruction-steps-types', 'rotate-proj',
                      'beam-hardening')


def _sections() -> dict:
    """config.SECTIONS of v1.1.0 (argparse keyword arguments per section and option)."""
    text = (HERE.parent / "tomocupy_gladier" / "data" / "tomocupy-options.json").read_text()
    types = {"int": int, "float": float, "str": str, "Path": Path, "positive_int": positive_int}
    home = Path.home()
    out: dict = {}
    for o in json.loads(text):
        name = o["name"]
        if name in _V110["drop"]:
            continue
        section = _V110["section"].get(name, o["section"])
        d, t = o["default"], o["type"]
        opts: dict = {}
        if t == "flag":
            opts["action"] = "store_true"
            opts["default"] = d == "True"
        else:
            if t in types:
                opts["type"] = types[t]
            if d == "None":
                opts["default"] = None
            elif t in ("int", "positive_int"):
                opts["default"] = int(d)
            elif t == "float":
                opts["default"] = float(d)
            else:
                opts["default"] = d
        choices = _V110["choices"].get(name, o["choices"])
        if choices is not None:
            opts["choices"] = choices
        if name == "config":
            opts["default"] = home / "tomocupyon.conf"
        if name == "logs-home":
            opts["default"] = home / "logs"
        out.setdefault(section, {})[name] = opts
    return out


SECTIONS = _sections()
CONFIG_FILE_NAME = Path.home() / 'tomocupyon.conf'


def get_config_name():
    """config.get_config_name"""
    name = CONFIG_FILE_NAME
    for i, arg in enumerate(sys.argv):
        if arg.startswith('--config'):
            if arg == '--config':
                return sys.argv[i + 1]
            else:
                name = sys.argv[i].split('--config')[1]
                if name[0] == '=':
                    name = name[1:]
                return name
    return name


def config_to_list(config_name=CONFIG_FILE_NAME):
    """config.config_to_list"""
    result = []
    config = configparser.ConfigParser()
    if not config.read([config_name]):
        return []
    for section in SECTIONS:
        for name, opts in ((n, o) for n, o in SECTIONS[section].items() if config.has_option(section, n)):
            value = config.get(section, name)
            if value != '' and value != 'None':
                action = opts.get('action', None)
                if action == 'store_true' and value == 'True':
                    result.append('--{}'.format(name))
                if not action == 'store_true':
                    result.append('--{}={}'.format(name, value))
    return result


def parse_known_args(parser, subparser=False):
    """config.parse_known_args: unknown arguments are dropped silently."""
    if len(sys.argv) > 1:
        subparser_value = [sys.argv[1]] if subparser else []
        config_values = config_to_list(config_name=get_config_name())
        values = subparser_value + config_values + sys.argv[1:]
    else:
        values = ""
    return parser.parse_known_args(values)[0]


def add_arguments(parser, sections):
    """config.Params.add_parser_args"""
    for section in sections + ('general',):
        for name in sorted(SECTIONS[section]):
            parser.add_argument('--{}'.format(name), **SECTIONS[section][name])
    return parser


def write_config(config_file):
    """config.write (``tomocupy init``)"""
    config = configparser.ConfigParser()
    for section in SECTIONS:
        config.add_section(section)
        for name, opts in SECTIONS[section].items():
            value = opts['default'] if opts['default'] is not None else ''
            prefix = '# ' if value == '' else ''
            if name != 'config':
                config.set(section, prefix + name, str(value))
    with open(config_file, 'w') as f:
        config.write(f)


def update_hdf_process(fname, args=None, sections=None):
    """config.update_hdf_process: the options as /process/tomocupy-1.1.0/<section>/<name>."""
    import h5py
    import numpy as np
    with h5py.File(fname, 'r+') as hdf_file:
        if hdf_file.get('/process/tomocupy-' + __version__):
            del (hdf_file['/process/tomocupy-' + __version__])
        log.info("  *** tomopy.conf parameter written to /process%s in file %s " % (__version__, fname))
        for section in SECTIONS:
            for name, opts in SECTIONS[section].items():
                if args and sections and section in sections and hasattr(args, name.replace('-', '_')):
                    value = getattr(args, name.replace('-', '_'))
                    if isinstance(value, list):
                        value = ', '.join(value)
                else:
                    value = opts['default'] if opts['default'] is not None else ''
                if name != 'config':
                    dataset = '/process' + '/tomocupy-' + __version__ + '/' + section + '/' + name
                    dset_length = len(str(value)) * 2 if len(str(value)) > 5 else 10
                    dt = 'S{0:d}'.format(dset_length)
                    hdf_file.require_dataset(dataset, shape=(1,), dtype=dt)
                    log.info(name + ': ' + str(value))
                    hdf_file[dataset][0] = np.bytes_(str(value))


# --------------------------------------------------------------------------------------------
# logging.py

log = logging.getLogger("tomocupy.__main__")


class ColoredLogFormatter(logging.Formatter):
    """logging.ColoredLogFormatter"""
    _colors = {'INFO': '\033[92m', 'WARNING': '\033[33m', 'ERROR': '\033[91m', 'CRITICAL': '\033[41m'}

    def formatMessage(self, record):
        if record.levelname in self._colors:
            record.message = f"{self._colors[record.levelname]}{record.message}\033[0m"
        return super().formatMessage(record)


def setup_custom_logger(lfname, level):
    """logging.setup_custom_logger"""
    parent_logger = logging.getLogger("tomocupy")
    parent_logger.setLevel(logging.DEBUG)
    fh = logging.FileHandler(lfname)
    fh.setFormatter(logging.Formatter('%(asctime)s - %(name)s(%(lineno)s) - %(levelname)s: %(message)s'))
    fh.setLevel(logging.DEBUG)
    parent_logger.addHandler(fh)
    ch = logging.StreamHandler()
    ch.setFormatter(ColoredLogFormatter('%(asctime)s - %(message)s'))
    ch.setLevel(level)
    parent_logger.addHandler(ch)


# --------------------------------------------------------------------------------------------
# utils.py

def printProgressBar(iteration, total, qsize, prefix='', suffix='', decimals=1, length=100, fill='█', printEnd="\r"):
    percent = ("{0:." + str(decimals) + "f}").format(100 * (iteration / float(total)))
    filledLength = int(length * iteration // total)
    bar = fill * filledLength + '-' * (length - filledLength)
    print(f'\rqueue size {qsize:03d} | {prefix} |{bar}| {percent}% {suffix}', end=printEnd)
    if iteration == total:
        print()


def signal_handler(sig, frame):
    print('Abort')
    sys.exit(1)


class WRThread():
    """utils.WRThread: the exception of ``fun`` escapes the thread (threading.excepthook)."""

    def __init__(self):
        self.thread = None
        self._done = Event()
        self._done.set()

    def run(self, fun, args):
        self._done.clear()

        def _wrapper():
            try:
                fun(*args)
            finally:
                self._done.set()
        self.thread = Thread(target=_wrapper)
        self.thread.start()

    def is_alive(self):
        return not self._done.is_set()

    def join(self):
        if self.thread is None:
            return
        self.thread.join()


def find_free_thread(threads):
    while True:
        for ithread, t in enumerate(threads):
            if not t.is_alive():
                return ithread
        threads[0]._done.wait(timeout=0.01)


def downsample(data, binning):
    """utils.downsample: sums of neighbours, columns first."""
    for j in range(binning):
        data = data[:, :, ::2] + data[:, :, 1::2]
    for k in range(binning):
        data = data[:, ::2] + data[:, 1::2]
    return data


# --------------------------------------------------------------------------------------------
# global_vars.py

args = argparse.Namespace()
params = argparse.Namespace()


class FakeNotImplemented(RuntimeError):
    pass


class OutOfMemoryError(Exception):
    """Stands for cupy.cuda.memory.OutOfMemoryError (FAKE_TOMOCUPY_CRASH)."""


class CUDARuntimeError(RuntimeError):
    """Stands for cupy_backends.cuda.api.runtime.CUDARuntimeError (no GPU)."""


def knob(name, default=None):
    return os.environ.get(ENV + name, default)


_writes = {"n": 0, "lock": Lock()}


def _count_write():
    """FAKE_TOMOCUPY_WRITER_FAIL: the n-th and later writes fail inside the writer thread."""
    with _writes["lock"]:
        _writes["n"] += 1
        n = _writes["n"]
    fail = knob("WRITER_FAIL")
    if fail and n >= int(fail):
        raise OSError(28, 'No space left on device')


_handed = {"n": 0}


def _handed_to_writer():
    """FAKE_TOMOCUPY_CRASH: crash the main thread after n writes were handed over."""
    _handed["n"] += 1
    crash = knob("CRASH")
    if crash is not None and _handed["n"] > int(crash):
        raise OutOfMemoryError("Out of memory allocating 4,294,967,296 bytes "
                               "(allocated so far: 137,438,953,472 bytes).")


# --------------------------------------------------------------------------------------------
# dataio/reader.py

class Reader():
    def __init__(self):
        if args.dark_file_name is None:
            args.dark_file_name = args.file_name
        else:
            log.warning(f'Using dark fields from {args.dark_file_name}')
        if args.flat_file_name is None:
            args.flat_file_name = args.file_name
        else:
            log.warning(f'Using flat fields from {args.flat_file_name}')
        self.init_sizes()
        if args.reconstruction_type[:3] == 'try':
            self.init_sizes_try()
        if args.lamino_angle != 0:
            raise FakeNotImplemented("fake_tomocupy: laminography is not reproduced")

    def init_sizes(self):
        import numpy as np
        sizes = self.read_sizes()
        theta = self.read_theta()
        nproji, nzi, ni = sizes['nproji'], sizes['nzi'], sizes['ni']
        if args.binning > 0:
            in_dtype = args.dtype
        else:
            in_dtype = sizes['dtype']
        if args.end_row == -1:
            args.end_row = nzi
        if args.end_proj == -1:
            args.end_proj = nproji
        if args.end_column == -1:
            args.end_column = ni
        nz = args.end_row - args.start_row
        ncz = args.nsino_per_chunk
        if ncz == 1 and args.reconstruction_algorithm == 'fourierrec':
            ncz = 2
        ncproj = args.nproj_per_chunk
        centeri = args.rotation_axis
        if centeri == -1:
            centeri = ni / 2
        st_n = args.start_column
        end_n = args.end_column
        nsh = (end_n - st_n) % (2**(args.binning + 1))
        if nsh != 0:
            end_n -= nsh
            log.warning(f'Decreasing projection width by {nsh} pixel to operate with multiple of 2 sizes. '
                        f'New projection width: {end_n-st_n}')
        ni = end_n - st_n
        centeri -= st_n
        ni //= 2**args.binning
        centeri /= 2**args.binning
        nz //= 2**args.binning
        if args.file_type == 'double_fov':
            raise FakeNotImplemented("fake_tomocupy: --file-type double_fov is not reproduced")
        n = ni
        center = centeri
        if args.dtype == 'float16':
            center += (2**int(np.log2(ni)) - ni) / 2
            st_n = (ni - 2**int(np.log2(ni))) // 2
            end_n = st_n + 2**int(np.log2(ni))
            ni = 2**int(np.log2(ni))
            n0 = n
            n = 2**int(np.log2(n))
            if n != n0:
                log.warning(f'Crop data to the power of 2 sizes to work with 16bit precision, output size in x dimension {ni}')
        ids_proj = [args.start_proj, args.end_proj]
        theta = theta[ids_proj[0]:ids_proj[1]]
        if args.blocked_views != 'none':
            tmp = literal_eval(args.blocked_views)
            if not isinstance(tmp[0], list):
                tmp = [tmp]
            ids = np.arange(len(theta))
            for pairs in tmp:
                [st, end] = pairs
                ids = np.intersect1d(ids, np.where(((theta) % np.pi < st) + ((theta - st) % np.pi > end - st))[0])
            theta = theta[ids]
            ids_proj = np.arange(ids_proj[0], ids_proj[1])[ids]
            log.info(f'angles {theta}')
        nproj = len(theta)
        nzchunk = int(np.ceil(nz / ncz))
        lzchunk = np.minimum(ncz, np.int32(nz - np.arange(nzchunk) * ncz))
        tmp = literal_eval(args.nsino)
        if not isinstance(tmp, list):
            tmp = [tmp]
        params.id_slices = np.int32(np.array(tmp) * (nz * 2**args.binning - 1) / 2**args.binning) * 2**args.binning
        params.n, params.nz, params.ncz, params.nproj, params.ncproj = n, nz, ncz, nproj, ncproj
        params.center, params.ni, params.nzi, params.centeri = center, ni, nzi, centeri
        params.ids_proj, params.theta, params.nzchunk, params.lzchunk = ids_proj, theta, nzchunk, lzchunk
        params.dtype, params.in_dtype, params.st_n, params.end_n = args.dtype, in_dtype, st_n, end_n

    def init_sizes_try(self):
        import numpy as np
        if args.reconstruction_type != 'try':
            raise FakeNotImplemented("fake_tomocupy: try_lamino is not reproduced")
        shift_array = np.arange(-args.center_search_width, args.center_search_width,
                                args.center_search_step * 2**args.binning).astype('float32') / 2**args.binning
        save_centers = (params.centeri - shift_array) * 2**args.binning + params.st_n
        nschunk = int(np.ceil(len(shift_array) / params.ncz))
        lschunk = np.minimum(params.ncz, np.int32(len(shift_array) - np.arange(nschunk) * params.ncz))
        params.shift_array, params.save_centers = shift_array, save_centers
        params.nschunk, params.lschunk = nschunk, lschunk

    def read_sizes(self):
        import h5py
        sizes = {}
        with h5py.File(args.file_name) as file_in:
            data = file_in['/exchange/data']
            nproj, nzi, ni = data.shape[:]
            sizes['dtype'] = data.dtype
            sizes['nproji'], sizes['nzi'], sizes['ni'] = nproj, nzi, ni
        with h5py.File(args.flat_file_name) as file_in:
            sizes['nflat'] = file_in['/exchange/data_white'].shape[0]
        with h5py.File(args.dark_file_name) as file_in:
            sizes['ndark'] = file_in['/exchange/data_dark'].shape[0]
        return sizes

    def read_theta(self):
        import h5py
        import numpy as np
        with h5py.File(args.file_name) as file_in:
            theta = file_in['/exchange/theta'][:].astype('float32') / 180 * np.pi
        return theta

    def read_chunk(self, st_z, end_z):
        """read_data_chunk_to_queue (returns instead of queueing)"""
        import h5py
        import numpy as np
        ids_proj, st_n, end_n, in_dtype = params.ids_proj, params.st_n, params.end_n, params.in_dtype
        with h5py.File(args.file_name) as fid:
            if isinstance(ids_proj, np.ndarray):
                data = fid['/exchange/data'][:, st_z:end_z, st_n:end_n][ids_proj].astype(in_dtype, copy=False)
            else:
                data = fid['/exchange/data'][ids_proj[0]:ids_proj[1], st_z:end_z, st_n:end_n].astype(in_dtype, copy=False)
        with h5py.File(args.dark_file_name) as fid:
            dark = fid['/exchange/data_dark'][:, st_z:end_z, st_n:end_n].astype(in_dtype, copy=False)
        with h5py.File(args.flat_file_name) as fid:
            flat = fid['/exchange/data_white'][:, st_z:end_z, st_n:end_n].astype(in_dtype, copy=False)
        return downsample(data, args.binning), downsample(flat, args.binning), downsample(dark, args.binning)


# --------------------------------------------------------------------------------------------
# dataio/writer.py

class Writer():
    def __init__(self):
        if args.reconstruction_type[:3] == 'try':
            self.init_output_files_try()
        else:
            self.init_output_files()

    def init_output_files_try(self):
        if args.out_path_name is None:
            fnameout = os.path.dirname(args.file_name) + '_rec/try_center/' + os.path.basename(args.file_name)[:-3]
        else:
            fnameout = str(args.out_path_name)
        if not os.path.exists(fnameout):
            os.makedirs(fnameout)
        fnameout += '/recon'
        if args.clear_folder == 'True':
            log.info('Clearing the output folder')
            os.system(f'rm {fnameout}*')
        log.info(f'Output: {fnameout}')
        params.fnameout = fnameout

    def init_output_files(self):
        import h5py
        import numpy as np
        if args.out_path_name is None:
            fnameout = os.path.dirname(args.file_name) + '_rec/' + os.path.basename(args.file_name)[:-3] + '_rec'
        else:
            fnameout = str(args.out_path_name)
        if not os.path.exists(fnameout):
            os.makedirs(fnameout)
        if args.clear_folder == 'True':
            log.info('Clearing the output folder')
            os.system(f'rm {fnameout}/*')
        if args.save_format == 'h5sino':
            raise FakeNotImplemented("fake_tomocupy: --save-format h5sino is not reproduced")
        if args.save_format == 'tiff':
            fnameout += '/recon'
            fname_rec_line = os.path.dirname(fnameout) + '/rec_line.txt'
            rec_line = sys.argv
            rec_line[0] = os.path.basename(rec_line[0])
            with open(fname_rec_line, 'w') as f:
                f.write(' '.join(rec_line))
        elif args.save_format == 'h5':
            fnameout += '.h5'
            layout = h5py.VirtualLayout(shape=(params.nzi / 2**args.binning, params.n, params.n), dtype=params.dtype)
            if not os.path.exists(f'{fnameout[:-3]}_parts'):
                os.makedirs(f'{fnameout[:-3]}_parts')
            for k in range(params.nzchunk):
                filename = f"{fnameout[:-3]}_parts/p{k:04d}.h5"
                vsource = h5py.VirtualSource(filename, "/exchange/data", shape=(params.lzchunk[k], params.n, params.n), dtype=params.dtype)
                st = args.start_row // 2**args.binning + k * params.ncz
                layout[st:st + params.lzchunk[k]] = vsource
            rec_virtual = h5py.File(fnameout, "w")
            dset_rec = rec_virtual.create_virtual_dataset("/exchange/data", layout)
            self._command_attrs(dset_rec)
            self.write_meta(rec_virtual)
            rec_virtual.close()
            update_hdf_process(fnameout, args, sections=RECON_STEPS_PARAMS)
        elif args.save_format == 'h5nolinks':
            fnameout += '.h5'
            h5w = h5py.File(fnameout, "w")
            dset_rec = h5w.create_dataset("/exchange/data", shape=(int(params.nzi / 2**args.binning), params.n, params.n), dtype=params.dtype)
            self._command_attrs(dset_rec)
            self.write_meta(h5w)
            self.h5w = h5w
            self.dset_rec = dset_rec
            update_hdf_process(fnameout, args, sections=RECON_STEPS_PARAMS)
        params.fnameout = fnameout
        log.info(f'Output: {fnameout}')

    @staticmethod
    def _command_attrs(dset_rec):
        import h5py
        import numpy as np
        rec_line = sys.argv
        rec_line[0] = os.path.basename(rec_line[0])
        s = ' '.join(rec_line).encode("utf-8")
        dset_rec.attrs["command"] = np.array(s, dtype=h5py.string_dtype('utf-8', len(s)))
        dset_rec.attrs["axes"] = 'z:y:x'
        dset_rec.attrs["description"] = 'ReconData'
        dset_rec.attrs["units"] = 'counts'

    def write_meta(self, rec_virtual):
        try:
            import meta  # noqa: F401 - tomocupy's optional dependency; absent here as usually
            raise ImportError
        except Exception:
            log.error('write_meta() error: Skip copying meta')

    def write_data_chunk(self, rec, st, end, k):
        import h5py
        import tifffile
        _count_write()
        if args.save_format == 'tiff':
            for kk in range(end - st):
                fid = st + kk
                tifffile.imwrite(f'{params.fnameout}_{fid:05}.tiff', rec[kk])
        elif args.save_format == 'h5':
            filename = f"{params.fnameout[:-3]}_parts/p{k:04d}.h5"
            with h5py.File(filename, "w") as fid:
                fid.create_dataset("/exchange/data", data=rec, chunks=(1, params.n, params.n))
        elif args.save_format == 'h5nolinks':
            self.h5w['/exchange/data'][st:end, :, :] = rec[:end - st]

    def write_data_try(self, rec, cid, id_slice):
        import tifffile
        _count_write()
        tifffile.imwrite(f'{params.fnameout}_slice{id_slice:04d}_center{cid:05.2f}.tiff', rec)


# --------------------------------------------------------------------------------------------
# numbers: tomocupy-gladier's CPU engine

def _sinograms(data, flat, dark):
    """proc_sino + proc_proj, approximately: (nproj, rows, n) raw -> (rows, nproj, n) -log."""
    import numpy as np
    from tomocupy_gladier.engine import preprocess, stripes
    data, flat, dark = (np.asarray(a, dtype=np.float32) for a in (data, flat, dark))
    if args.dezinger > 0:
        for a in (data, flat, dark):
            preprocess.dezinger(a, int(args.dezinger), float(args.dezinger_threshold))
    res = preprocess.flat_dark(data, flat, dark, bright_ratio=float(args.bright_ratio),
                               flat_linear=args.flat_linear == 'True')
    if args.remove_stripe_method in stripes.METHODS:
        stripes.remove_stripes(res, args.remove_stripe_method, vars(args))
    if args.minus_log == 'True':
        preprocess.minus_log(res)
    return np.ascontiguousarray(res.transpose(1, 0, 2))


_rec = {}


def _backprojection(sinos, centers):
    """FBP with the rotation centre ``centers`` (binned, cropped pixels); float32 (k, n, n)."""
    from tomocupy_gladier.engine.fbp import FourierRec
    if "r" not in _rec:
        _rec["r"] = FourierRec(params.n, params.theta, args.fbp_filter)
    if sinos.shape[-1] != params.n:
        raise ValueError(f"operands could not be broadcast together with shapes {sinos.shape} (n={params.n})")
    return _rec["r"].reconstruct(sinos, centers)


# --------------------------------------------------------------------------------------------
# find_center.py

class FindCenter():
    def __init__(self, cl_reader):
        signal.signal(signal.SIGINT, signal_handler)
        signal.signal(signal.SIGTERM, signal_handler)
        self.cl_reader = cl_reader

    def find_center(self):
        import numpy as np
        forced = knob("FOUND_AXIS")
        if forced is not None:
            return np.float32(forced)
        if args.rotation_axis_method == 'sift':
            center = self.find_center_sift()
        elif args.rotation_axis_method == 'vo':
            center = self.find_center_vo()
        return (center * 2**args.binning).astype('float32')

    def _vo(self):
        """Binned column of the axis in the cropped frame (engine's Vo search on id_slices[0])."""
        from tomocupy_gladier.engine import center as center_mod
        id_slice = int(params.id_slices[0])
        data, flat, dark = self.cl_reader.read_chunk(id_slice, id_slice + 2**args.binning)
        sino = _sinograms(data, flat, dark)[0]
        return center_mod.find_center_vo(sino, args.center_search_width, args.center_search_step)

    def find_center_sift(self):
        """The second find_center_sift of v1.1.0: returns ``mean(n//2 - shift/2 + st_n)*2**b``."""
        import numpy as np
        if knob("SIFT_NO_FEATURES"):
            print('no features found')
            exit()
        # the flipped-pair registration gives shift = (n - 1) - 2c; tomocupy uses n//2
        shift = (params.n - 1) - 2 * self._vo()
        centers = np.array([params.n // 2 - shift / 2 + params.st_n], dtype='float32')
        log.info('Number of matched features 64')
        log.info(f'Found centers for projection pairs {centers}, mean: {np.mean(centers)}')
        log.info(f'Vertical misalignment {np.zeros(1, "float32")}, mean: 0.0')
        return np.mean(centers) * 2**args.binning

    def find_center_vo(self):
        import numpy as np
        fine_cen = np.float64(self._vo())
        log.debug('Rotation center search finished: %i', fine_cen)
        return fine_cen


# --------------------------------------------------------------------------------------------
# rec.py / rec_steps.py

class GPURec():
    def __init__(self, cl_reader, cl_writer, steps=False):
        signal.signal(signal.SIGINT, signal_handler)
        signal.signal(signal.SIGTERM, signal_handler)
        if args.reconstruction_algorithm == 'lprec':
            params.centeri += 0.5  # backproj_functions: lprec's own convention, same images
            params.center += 0.5
            self.half = 0.5
        else:
            self.half = 0.0
        self.write_threads = [WRThread() for _ in range(args.max_write_threads)]
        self.cl_reader, self.cl_writer, self.steps = cl_reader, cl_writer, steps
        hang = knob("HANG")
        if hang:
            time.sleep(float(hang))

    def _write(self, fun, fargs):
        _handed_to_writer()
        ithread = find_free_thread(self.write_threads)
        self.write_threads[ithread].run(fun, fargs)

    def recon_all(self):
        import numpy as np
        log.info('Full reconstruction')
        ncz, b = params.ncz, args.binning
        for k in range(params.nzchunk):
            printProgressBar(k, params.nzchunk, 0, length=40)
            st_z = args.start_row + k * ncz * 2**b
            end_z = args.start_row + (k * ncz + params.lzchunk[k]) * 2**b
            sinos = _sinograms(*self.cl_reader.read_chunk(st_z, end_z))
            rec = np.zeros((ncz, params.n, params.n), dtype=params.dtype)
            rec[:len(sinos)] = _backprojection(sinos, params.center - self.half)
            st = k * ncz + args.start_row // 2**b
            end = st + params.lzchunk[k]
            self._write(self.cl_writer.write_data_chunk, (rec, st, end, k))
        printProgressBar(params.nzchunk, params.nzchunk, 0, length=40)
        for t in self.write_threads:
            t.join()

    def recon_try(self):
        import numpy as np
        b = args.binning
        whole = None
        for id_slice in params.id_slices:
            log.info(f'Processing slice {id_slice}')
            if self.steps:  # recon_try_sino_parallel: data[:, id_slice//2**binning] of the row block
                if whole is None:
                    whole = _sinograms(*self.cl_reader.read_chunk(args.start_row, args.end_row))
                sino = whole[id_slice // 2**b]
            else:  # Reader.read_data_try: absolute rows, --start-row ignored
                sino = _sinograms(*self.cl_reader.read_chunk(id_slice, id_slice + 2**b))[0]
            for k in range(params.nschunk):
                printProgressBar(k, params.nschunk, 0, length=40)
                ids = range(k * params.ncz, k * params.ncz + params.lschunk[k])
                sh = params.shift_array[list(ids)]
                imgs = _backprojection(np.broadcast_to(sino, (len(sh), *sino.shape)),
                                       params.center - self.half - sh).astype(params.dtype)
                for kk, i in enumerate(ids):
                    self._write(self.cl_writer.write_data_try, (imgs[kk], params.save_centers[i], id_slice))
            printProgressBar(params.nschunk, params.nschunk, 0, length=40)
            for t in self.write_threads:
                t.join()


# --------------------------------------------------------------------------------------------
# __main__.py

def init(args):
    if not os.path.exists(str(args.config)):
        write_config(args.config)
    else:
        log.error("{0} already exists".format(args.config))


def run_status(args):
    log.warning('tomocupyon status start')
    log.warning('tomocupyon status end')


def _auto_axis(cl_reader):
    if args.rotation_axis_auto == 'auto':
        clrotthandle = FindCenter(cl_reader)
        args.rotation_axis = clrotthandle.find_center()
        params.center = args.rotation_axis
        log.warning(f'set rotaion  axis {args.rotation_axis}')


def run_rec(args, cl_reader, cl_writer):
    file_name = Path(args.file_name)
    if not file_name.is_file():
        log.error("File Name does not exist: %s" % args.file_name)
        exit()
    t = time.time()
    args.retrieve_phase_method = 'none'
    args.rotate_proj_angle = 0
    args.lamino_angle = 0
    _auto_axis(cl_reader)
    clpthandle = GPURec(cl_reader, cl_writer)
    if args.reconstruction_type == 'full':
        clpthandle.recon_all()
    if args.reconstruction_type == 'try':
        clpthandle.recon_try()
    rec_time = (time.time() - t)
    log.warning(f'Reconstruction time {rec_time:.1e}s')


def run_recsteps(args, cl_reader, cl_writer):
    file_name = Path(args.file_name)
    if not file_name.is_file():
        log.error("File Name does not exist: %s" % args.file_name)
        exit()
    t = time.time()
    _auto_axis(cl_reader)
    clpthandle = GPURec(cl_reader, cl_writer, steps=True)
    log.info('Reading data.')
    if args.pre_processing == 'True':
        log.info('Processing by chunks in z.')
        log.info('Processing by chunks in angles.')
    log.info('Filtered backprojection and writing by chunks.')
    if args.reconstruction_type == 'full':
        clpthandle.recon_all()
    else:
        clpthandle.recon_try()
    log.warning(f'Reconstruction time {(time.time()-t):.01f}s')


def _record():
    record = os.environ.get(ENV + "RECORD")
    if record:
        with open(record, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\n")
        with open(record + ".env", "a") as f:
            f.write(json.dumps({"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")


def main():
    _record()
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', **SECTIONS['general']['config'])
    cmd_parsers = [
        ('init', init, (), "Create configuration file"),
        ('recon', run_rec, RECON_PARAMS, "Run tomographic processing by splitting data into chunks in z "),
        ('recon_steps', run_recsteps, RECON_STEPS_PARAMS,
         "Run tomographic reconstruction by splitting by chunks in z and angles (step-wise)"),
        ('status', run_status, RECON_STEPS_PARAMS, "Show the tomographic reconstruction status"),
    ]
    subparsers = parser.add_subparsers(title="Commands", metavar='')
    for cmd, func, sections, text in cmd_parsers:
        cmd_parser = subparsers.add_parser(cmd, help=text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_arguments(cmd_parser, sections)
        cmd_parser.set_defaults(_func=func)

    args.__dict__.update(parse_known_args(parser, subparser=True).__dict__)
    try:
        logs_home = args.logs_home
    except AttributeError:
        parser.print_help(sys.stderr)
        sys.exit(1)
    # test cupy
    if knob("NO_GPU") or os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    if not os.path.exists(logs_home):
        os.makedirs(logs_home)
    lfname = os.path.join(logs_home, 'tomocupyfp16on_' + datetime.strftime(datetime.now(), "%Y-%m-%d_%H_%M_%S") + '.log')
    setup_custom_logger(lfname, level='DEBUG' if args.verbose else "INFO")
    log.debug("Started tomocupyfp16on")
    log.info("Saving log at %s" % lfname)
    if knob("NOTHING"):
        return
    try:
        if args._func == init:
            args._func(args)
        else:
            cl_reader = Reader()
            cl_writer = Writer()
            args._func(args, cl_reader, cl_writer)
    except RuntimeError as e:
        log.error(str(e))
        sys.exit(1)


if __name__ == '__main__':
    main()
