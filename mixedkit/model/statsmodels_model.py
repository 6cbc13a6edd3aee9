"""statsmodels' ``MixedLM`` as mixedkit builds it for its ``engine="statsmodels"`` fits.

Imported only where a statsmodels model is built: statsmodels' mixed-model module costs
about 0.2 s to import, and fits on mixedkit's own engine never need it.
"""

from __future__ import annotations

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

__all__ = ["MemoisedMixedLM", "MixedLM", "VCSpec"]


class MemoisedMixedLM(MixedLM):
    """``MixedLM`` whose GLS step (``get_fe_params``) remembers its last answer.

    statsmodels' ``loglike`` and ``score`` each solve the same GLS problem at the same
    theta; L-BFGS-B asks for both, so remembering one answer saves a third of every
    evaluation. The answer is returned as a copy, so no caller can change what is kept.
    """

    _gls_key = None
    _gls_value = None

    def get_fe_params(self, cov_re, vcomp, tol=1e-10):
        key = (np.asarray(cov_re).tobytes(), np.asarray(vcomp).tobytes(), tol)
        if key != self._gls_key:
            self._gls_key, self._gls_value = key, super().get_fe_params(cov_re, vcomp, tol)
        fe_params, singular = self._gls_value
        return fe_params.copy(), singular
